# Optional, not in `all`: projected wall time and GPU-hours of every run of the config, from a short
# timed segment per (dataset, method, batch, model) on the machine the train rule uses.
#   snakemake --cores all results/<name>/estimate.json   (the tables then show it beside the measured hours)


rule estimate:
    output:
        layout.ESTIMATE,
    log:
        layout.config_log("estimate"),
    params:
        config=CONFIG_FILE,
    threads: CFG["threads"]
    resources:
        **job_resources("train"),
    conda:
        "../envs/act-bench.yaml"
    shell:
        "act-bench estimate {params.config:q} --out {output} > {log} 2>&1"
