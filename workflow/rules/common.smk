# The config (validated by act_bench against workflow/schemas/config.schema.yaml), wildcard
# constraints and the per-run CLI arguments shared by the stages.
import shlex
from pathlib import Path

from snakemake.exceptions import WorkflowError

from act_bench.config import ConfigError, config_path, expand_runs, load_config
from act_bench.data import BUNDLED_KINDS


CONFIG_FILE = str(config_path(config.get("config", "default")))
try:
    CFG = load_config(CONFIG_FILE)
except ConfigError as e:
    raise WorkflowError(str(e)) from None
NAME = CFG["name"]
RUNS = expand_runs(CFG)


wildcard_constraints:
    name=r"[A-Za-z0-9][A-Za-z0-9.-]*",
    dataset=r"[a-z0-9][a-z0-9-]*",
    method=r"ct|act",
    batch_size=r"\d+",
    model=r"[a-z0-9][a-z0-9-]*",
    augment=r"on|off",
    seed=r"\d+",


def run_args(wildcards):
    """The CLI arguments that select one run of the config."""
    return (
        f"--config {shlex.quote(CONFIG_FILE)} --dataset {wildcards.dataset} --method {wildcards.method} "
        f"--batch-size {wildcards.batch_size} --model {wildcards.model} "
        f"--augment {wildcards.augment} --seed {wildcards.seed}"
    )


def run_files(filename):
    """`filename` inside every run directory of the config."""
    return [f"{run.path}/{filename}" for run in RUNS]


def data_input(wildcards):
    """Prepared data of a dataset: the bundled .npz, the converted ImageNet64 folder's meta.json,
    or nothing (CIFAR10, LSUN and image folders are read where the config says)."""
    kind = CFG["datasets"][wildcards.dataset]["kind"]
    if kind in BUNDLED_KINDS:
        return f"results/{wildcards.name}/data/{wildcards.dataset}.npz"
    if kind == "imagenet64":
        return f"results/{wildcards.name}/data/{wildcards.dataset}/meta.json"
    return []


def data_arg(wildcards, input):
    if not input.data:
        return ""
    path = input.data if input.data.endswith(".npz") else str(Path(input.data).parent)
    return f"--data {shlex.quote(path)}"


def classifier_input(wildcards):
    if CFG["datasets"][wildcards.dataset]["kind"] != "digits":
        return []
    return f"results/{wildcards.name}/features/{wildcards.dataset}-classifier.pt"


def classifier_arg(wildcards, input):
    return f"--classifier {shlex.quote(input.classifier)}" if input.classifier else ""
