# Stage 4: one row per run, the tables, and per dataset the plots; `snakemake --report report.html`
# collects the marked outputs (captions in workflow/report/).


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
        report("results/{name}/summary.csv", caption="../report/summary_csv.rst", category="tables",
               labels={"table": "summary.csv (one row per run)"}),
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
        estimate=existing_estimate,
    output:
        *table_outputs(),
    log:
        "results/{name}/logs/table.log",
    params:
        estimate=lambda wildcards, input: f"--estimate {input.estimate}" if input.estimate else "",
    conda:
        "../../environment.yml"
    shell:
        "act-bench table --summary {input.summary} --reference {input.reference} {params.estimate} "
        "--out-dir reports/{wildcards.name} > {log} 2>&1"


rule plots:
    input:
        summary="results/{name}/summary.csv",
        logs=dataset_run_files("train_log.jsonl"),
        curves=dataset_run_files("metric_curve.json"),
        samples=dataset_sample_files,
    output:
        *plot_outputs(),
    log:
        "results/{name}/logs/plots-{dataset}.log",
    params:
        config=CONFIG_FILE,
    conda:
        "../../environment.yml"
    shell:
        "act-bench plots --config {params.config:q} --summary {input.summary} --dataset {wildcards.dataset} "
        "--out-dir reports/{wildcards.name}/{wildcards.dataset} > {log} 2>&1"
