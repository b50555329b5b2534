# Stage 4: one row per run, the comparison table and the plots.


localrules:
    aggregate,
    table,
    plots,


rule aggregate:
    input:
        run_files("metrics.json"),
        run_files("params.json"),
        run_files("train_summary.json"),
    output:
        "results/{name}/summary.csv",
    log:
        "results/{name}/logs/aggregate.log",
    params:
        config=CONFIG_FILE,
    conda:
        "../../environment.yml"
    shell:
        "act-bench aggregate --config {params.config:q} --out {output} > {log} 2>&1"


rule table:
    input:
        summary="results/{name}/summary.csv",
        reference=expand("results/{{name}}/reference/{dataset}.json", dataset=sorted({r.dataset for r in RUNS})),
    output:
        "reports/{name}/summary.md",
    log:
        "results/{name}/logs/table.log",
    conda:
        "../../environment.yml"
    shell:
        "act-bench table --summary {input.summary} --reference {input.reference} --out {output} > {log} 2>&1"


rule plots:
    input:
        summary="results/{name}/summary.csv",
        logs=run_files("train_log.jsonl"),
    output:
        "reports/{name}/metric_vs_batch_size.png",
        "reports/{name}/training_curves.png",
    log:
        "results/{name}/logs/plots.log",
    params:
        config=CONFIG_FILE,
    conda:
        "../../environment.yml"
    shell:
        "act-bench plots --config {params.config:q} --summary {input.summary} "
        "--out-dir reports/{wildcards.name} > {log} 2>&1"
