# act-bench: CT vs ACT, end to end.
#   snakemake --cores all                        # the default config (workflow/configs/default.yaml)
#   snakemake --cores all --config config=smoke  # another config by name, or config=path/to/file.yaml


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/estimate.smk"


rule all:
    input:
        f"results/{NAME}/summary.csv",
        f"reports/{NAME}/summary.md",
        f"reports/{NAME}/metric_vs_batch_size.png",
        f"reports/{NAME}/training_curves.png",
    default_target: True
