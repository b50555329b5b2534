# Stage 4: one row per run, the tables, per dataset the plots, and (configs with a `study:` block) the
# study of the paper's claims; `snakemake --report report.html` collects the marked outputs (captions in
# workflow/report/). The readers get every run's directory
# from their declared inputs.


localrules:
    aggregate,
    table,
    plots,
    study,


rule aggregate:
    input:
        metrics=run_files(layout.METRICS),
        params=run_files(layout.PARAMS),
        summaries=run_files(layout.TRAIN_SUMMARY),
        settings=run_files(layout.RUN_SETTINGS),
    output:
        summary=report(layout.SUMMARY, caption="../report/summary_csv.rst", category="tables",
                       labels={"table": "summary.csv (one row per run)"}),
        config=layout.RESOLVED_CONFIG,
    log:
        layout.config_log("aggregate"),
    params:
        config=CONFIG_FILE,
        digest=settings.digest(CFG),   # any resolved change rewrites results/<name>/config.yaml
        runs=lambda wildcards, input: run_dir_args(input.summaries),
    conda:
        "../envs/act-bench.yaml"
    shell:
        "act-bench aggregate --config {params.config:q} {params.runs} --out {output.summary} "
        "--resolved-config {output.config} > {log} 2>&1"


rule table:
    input:
        summary=layout.SUMMARY,
        reference=expand(layout.REFERENCE, dataset=DATASETS, allow_missing=True),
        estimate=existing_estimate,
        curves=run_files(layout.METRIC_CURVE),
    output:
        *table_outputs(),
    log:
        layout.config_log("table"),
    params:
        estimate=lambda wildcards, input: f"--estimate {input.estimate}" if input.estimate else "",
        runs=lambda wildcards, input: run_dir_args(input.curves),
        spread=CFG["report"]["spread"],
        out_dir=lambda wildcards, output: str(Path(output[0]).parent),
    conda:
        "../envs/act-bench.yaml"
    shell:
        "act-bench table --summary {input.summary} --reference {input.reference} {params.estimate} {params.runs} "
        "--spread {params.spread} --out-dir {params.out_dir:q} > {log} 2>&1"


rule plots:
    input:
        logs=dataset_run_files(layout.TRAIN_LOG),
        summary=layout.SUMMARY,
        curves=dataset_run_files(layout.METRIC_CURVE),
        samples=dataset_sample_files,
    output:
        *plot_outputs(),
    log:
        layout.config_log("plots-{dataset}"),
    params:
        config=CONFIG_FILE,
        spread=CFG["report"]["spread"],   # read from the config; a param so that a change redraws the plots
        runs=lambda wildcards, input: run_dir_args(input.logs),
        out_dir=lambda wildcards, output: str(Path(output[0]).parent),
    conda:
        "../envs/act-bench.yaml"
    shell:
        "act-bench plots --config {params.config:q} --summary {input.summary} --dataset {wildcards.dataset} "
        "{params.runs} --out-dir {params.out_dir:q} > {log} 2>&1"


rule study:
    input:
        summary=layout.SUMMARY,
        curves=run_files(layout.METRIC_CURVE),
    output:
        *study_outputs(),
    log:
        layout.config_log("study"),
    params:
        config=CONFIG_FILE,
        study=settings.digest(CFG.get("study") or {}),   # a changed study: block rewrites the study
        runs=lambda wildcards, input: run_dir_args(input.curves),
        out_dir=lambda wildcards, output: str(Path(output[0]).parent),
    conda:
        "../envs/act-bench.yaml"
    shell:
        "act-bench study --config {params.config:q} --summary {input.summary} {params.runs} "
        "--out-dir {params.out_dir:q} > {log} 2>&1"
