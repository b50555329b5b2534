# act-bench: CT vs ACT, end to end.
#   snakemake --cores all                          # the default config (workflow/configs/default.yaml)
#   snakemake --cores all --configfile my.yaml     # another config file, used whole (not merged into the default)
#   snakemake --cores all --config config=smoke    # another config by name, or config=path/to/file.yaml


import os


configfile: os.path.join(workflow.basedir, "workflow/configs/default.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/estimate.smk"


report: "workflow/report/workflow.rst"


rule all:
    input:
        layout.SUMMARY.format(name=NAME),
        layout.RESOLVED_CONFIG.format(name=NAME),
        expand(layout.TABLE, name=NAME, table=TABLES, ext=["md", "tex"]),
        expand(layout.PLOT, name=NAME, dataset=DATASETS, plot=PLOTS, ext=["png", "pdf"]),
        study_targets(),   # configs with a `study:` block
    default_target: True
