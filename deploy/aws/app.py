"""CDK app entry: `python app.py` (what `make cdk-synth` and the cdk CLI run) writes the four
stacks' templates to $CDK_OUTDIR, or to cdk.out beside this file."""

import os
from pathlib import Path

from interlock_infra.assembly import build_app

if __name__ == "__main__":
    outdir = os.environ.get("CDK_OUTDIR") or str(Path(__file__).resolve().parent / "cdk.out")
    build_app(outdir).synth()
