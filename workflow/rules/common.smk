# The config (validated by act_bench against act_bench/config.schema.yaml), wildcard
# constraints, the per-run CLI arguments shared by the stages, and each rule's cluster resources.
import re
import shlex
from pathlib import Path

from snakemake.exceptions import WorkflowError

from act_bench import layout
from act_bench.config import config_path, expand_runs, load_config
from act_bench.data.kinds import kind_of
from act_bench.report.plots import PLOTS
from act_bench.report.study_plots import STUDY_PLOTS
from act_bench.report.tables import TABLES
from act_bench.runtime.errors import ConfigError
from act_bench import settings


def config_file():
    """The config this workflow runs: the --configfile given (that file whole: Snakemake would merge it key by
    key into the default, so the merged `config` is not used), else --config config=NAME, else the default."""
    given = [str(Path(f).resolve()) for f in workflow.overwrite_configfiles]
    by_name = "config" in (workflow.config_settings.overwrite_config or {})
    if given and by_name:
        raise WorkflowError("give the config either as --configfile FILE or as --config config=NAME, not both")
    if len(given) > 1:
        raise WorkflowError(f"give one --configfile, not {len(given)}: a config is one file, used whole")
    return given[0] if given else str(config_path(config.get("config", "default")))


CONFIG_FILE = config_file()
try:
    CFG = load_config(CONFIG_FILE)
except ConfigError as e:
    raise WorkflowError(str(e)) from None
NAME = CFG["name"]
RUNS = expand_runs(CFG)
RUN_OF = {tuple(str(v) for v in run.wildcards.values()): run for run in RUNS}


wildcard_constraints:
    variant_dir=layout.VARIANT_DIR_REGEX,
    name=r"[A-Za-z0-9][A-Za-z0-9.-]*",
    dataset=r"[a-z0-9][a-z0-9-]*",
    method=r"ct|act|ict",
    batch_size=r"\d+",
    model=r"[a-z0-9][a-z0-9-]*",
    augment=r"on|off",
    seed=r"\d+",


def run_of(wildcards):
    """The config.Run of a rule's run wildcards."""
    return RUN_OF[tuple(wildcards[key] for key in layout.RUN_WILDCARDS)]


def run_args(wildcards):
    """The CLI arguments that select one run of the config."""
    variant = run_of(wildcards).variant
    return (
        f"--config {shlex.quote(CONFIG_FILE)} --dataset {wildcards.dataset} --method {wildcards.method} "
        f"--batch-size {wildcards.batch_size} --model {wildcards.model} "
        f"--augment {wildcards.augment} --seed {wildcards.seed}" + (f" --variant {variant}" if variant else "")
    )


# Digests of the resolved settings that the outputs of each rule depend on (act_bench.settings), its params;
# Snakemake's params rerun trigger then reruns exactly the jobs whose settings changed.
def train_digest(wildcards):
    return settings.train_digest(CFG, run_of(wildcards))


def evaluation_digest(wildcards):
    """Of a dataset's evaluation settings: its reference statistics and data floor."""
    return settings.evaluation_digest(CFG, wildcards.dataset)


def run_evaluation_digest(wildcards):
    """Of a run's evaluation settings, the evaluated network among them: its samples, shards and metrics."""
    return settings.run_evaluation_digest(CFG, run_of(wildcards))


def data_digest(wildcards):
    return settings.data_digest(CFG, wildcards.dataset)


def classifier_digest(wildcards):
    return settings.classifier_digest(CFG, wildcards.dataset)


def kind(dataset):
    """The DatasetKind of a dataset of the config."""
    return kind_of(CFG["datasets"][dataset])


def run_files(filename):
    """`filename` inside every run directory of the config."""
    return [layout.run_file(filename, name=NAME, **run.wildcards) for run in RUNS]


def run_dir_args(files):
    """`--run DIR` for the run directory of each of `files` (one file per run)."""
    return " ".join(f"--run {shlex.quote(str(Path(f).parent))}" for f in files)


PREPARED_INPUTS = {"npz": layout.DATA_NPZ, "imagenet64_folder": layout.IMAGENET64_META}


def data_input(wildcards):
    """Prepared data of a dataset: the bundled .npz, the converted ImageNet64 folder's meta.json,
    or nothing (CIFAR10, LSUN and image folders are read where the config says)."""
    prepared = kind(wildcards.dataset).prepared_input
    return PREPARED_INPUTS[prepared].format(**wildcards) if prepared else []


def data_arg(wildcards, input):
    if not input.data:
        return ""
    path = input.data if input.data.endswith(".npz") else str(Path(input.data).parent)
    return f"--data {shlex.quote(path)}"


def classifier_input(wildcards):
    return layout.CLASSIFIER.format(**wildcards) if kind(wildcards.dataset).needs_classifier else []


def classifier_arg(wildcards, input):
    return f"--classifier {shlex.quote(input.classifier)}" if input.classifier else ""


def _minutes(runtime):
    """A config runtime as minutes: an int is minutes, a string is like "90m", "24h" or "1d12h"."""
    if isinstance(runtime, int):
        return runtime
    units = {"d": 1440, "h": 60, "min": 1, "m": 1}
    return sum(int(n) * units[unit] for n, unit in re.findall(r"(\d+)(d|h|min|m)", runtime))


def job_resources(group):
    """Snakemake resources of a rule from the config's resources.<group> (train, evaluate, default).
    `gpu` 0 makes a CPU job (no GPU flag); runtime grows with the attempt, so a job retried after a
    timeout or preemption (--retries) gets more time and training resumes from its newest checkpoint.
    Unset (null) keys are left out, so the profile's default-resources apply."""
    res = CFG["resources"][group]
    out = {"gpu": res["gpus"]}
    if res["gpus"] and res["gpu_model"]:
        out["gpu_model"] = res["gpu_model"]
    if res["gpus"] and res["cpus_per_gpu"]:
        out["cpus_per_gpu"] = res["cpus_per_gpu"]
    if res["mem_mb"] is not None:
        out["mem_mb"] = res["mem_mb"]
    if res["runtime"] is not None:
        minutes = _minutes(res["runtime"])
        out["runtime"] = lambda wildcards, attempt: minutes * attempt
    if res["partition"] is not None:
        out["slurm_partition"] = res["partition"]
    return out


def _dataset_pattern(bundled):
    """A wildcard pattern matching exactly the config's bundled (or image) dataset names; never empty."""
    names = sorted(n for n in CFG["datasets"] if kind(n).bundled == bundled)
    return "|".join(re.escape(n) for n in names) or "(?!)"


# Bundled datasets go through sample/evaluate/reference_metrics, image datasets through the FID rules.
BUNDLED_DATASETS = _dataset_pattern(True)
IMAGE_DATASETS = _dataset_pattern(False)
FID = CFG["evaluation"]["fid"]


def fid_reference_file(wildcards):
    return layout.INCEPTION_REFERENCE.format(mode=FID["mode"], **wildcards)


def fid_shards(wildcards):
    return [layout.run_file(layout.FID_SHARD, shard=i, **wildcards) for i in range(FID["shards"])]


def fid_data_input(wildcards):
    """Training data for computed reference statistics; nothing when the dataset names an .npz."""
    return [] if CFG["datasets"][wildcards.dataset].get("fid_reference") else data_input(wildcards)
# Report outputs (workflow/rules/report.smk): tables per config, plots per dataset.
DATASETS = sorted({r.dataset for r in RUNS})


def dataset_run_files(filename):
    """`filename` inside every run directory of the wildcard's dataset."""
    return lambda wildcards: [layout.run_file(filename, name=NAME, **run.wildcards) for run in RUNS
                              if run.dataset == wildcards.dataset]


def plot_outputs():
    """Each plot as PNG (in the HTML report, under its dataset) and PDF."""
    out = []
    for plot in PLOTS:
        out.append(report(layout.PLOT.format(name="{name}", dataset="{dataset}", plot=plot, ext="png"),
                          caption=f"../report/{plot}.rst", category="{dataset}",
                          labels={"dataset": "{dataset}", "figure": plot.replace("_", " ")}))
        out.append(layout.PLOT.format(name="{name}", dataset="{dataset}", plot=plot, ext="pdf"))
    return out


def table_outputs():
    """Each table as Markdown (in the HTML report) and LaTeX."""
    out = []
    for table in TABLES:
        out.append(report(layout.TABLE.format(name="{name}", table=table, ext="md"),
                          caption=f"../report/{table}.rst", category="tables", labels={"table": table}))
        out.append(layout.TABLE.format(name="{name}", table=table, ext="tex"))
    return out


def study_outputs():
    """study.md (in the HTML report) and .tex, and every dataset's study plots as PNG (in the report) and PDF."""
    out = [report(layout.TABLE.format(name="{name}", table="study", ext="md"), caption="../report/study.rst",
                  category="tables", labels={"table": "study"}),
           layout.TABLE.format(name="{name}", table="study", ext="tex")]
    for dataset in DATASETS:
        for plot in STUDY_PLOTS:
            out.append(report(layout.PLOT.format(name="{name}", dataset=dataset, plot=plot, ext="png"),
                              caption=f"../report/{plot}.rst", category=dataset,
                              labels={"dataset": dataset, "figure": plot.replace("_", " ")}))
            out.append(layout.PLOT.format(name="{name}", dataset=dataset, plot=plot, ext="pdf"))
    return out


def study_targets():
    """The study's files when the config has a `study:` block; none otherwise."""
    if "study" not in CFG:
        return []
    return [path.format(name=NAME) for path in study_outputs()]


def existing_estimate(wildcards):
    """results/<name>/estimate.json when `act-bench estimate` has written it (the tables then show the
    projected GPU-hours beside the measured ones); never makes the workflow run the estimate."""
    path = layout.ESTIMATE.format(**wildcards)
    return [path] if Path(path).exists() else []


def dataset_sample_files(wildcards):
    """Where the sample grid's one-step images are: samples.npz (bundled data) or the first FID shard."""
    name = layout.SAMPLES if kind(wildcards.dataset).bundled else layout.FID_SHARD.format(shard=0)
    return dataset_run_files(name)(wildcards)
