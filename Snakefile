# act-bench: CT vs ACT, end to end.
#   snakemake --cores all                        # the default config (workflow/configs/default.yaml)
#   snakemake --cores all --config config=smoke  # another config by name, or config=path/to/file.yaml


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/estimate.smk"


report: "workflow/report/workflow.rst"


rule all:
    input:
        f"results/{NAME}/summary.csv",
        expand("reports/{name}/{table}.{ext}", name=NAME, table=TABLES, ext=["md", "tex"]),
        expand("reports/{name}/{dataset}/{plot}.{ext}", name=NAME, dataset=sorted({r.dataset for r in RUNS}),
               plot=PLOTS, ext=["png", "pdf"]),
    default_target: True
