import subprocess
import sys

import audit


def test_all_exports_resolve():
    for name in audit.__all__:
        assert getattr(audit, name) is not None, name


def test_public_api_is_pinned():
    assert sorted(audit.__all__) == sorted([
        "__version__",
        "ModelBundle", "ModelError", "load_model", "check_compatible", "measure_truncation",
        "TextDataset", "DataError", "load_dataset", "save_dataset", "make_demo_dataset", "demo_splits",
        "fine_tune", "TrainingRecord", "fine_tune_private", "PrivateTrainingRecord", "PrivacyLedger", "evaluate", "compute_metrics", "Performance",
        "compute_multilabel_metrics", "MultiLabelPerformance",
        "Attribution", "IntegratedGradients", "AttentionRollout", "attention_maps",
        "SHAPText", "Occlusion", "GradientXInput", "evaluate_faithfulness",
        "RobustnessProbe", "ProbeConfig", "audit_privacy",
        "AuditResult", "Check", "AuditConfig", "DemoConfig", "run_audit", "run_demo", "write_outputs",
    ])


def test_import_and_help_are_light():
    code = "import sys, audit, audit.cli; audit.cli.build_parser().format_help(); " \
           "heavy = [m for m in ('torch', 'transformers', 'captum', 'opacus', 'shap') if m in sys.modules]; print(heavy)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
