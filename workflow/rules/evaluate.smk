# Stage 3: sampling, metrics and parameter counts per run, and the data floor per dataset. Bundled
# datasets: the postprocess rule (samples.npz, act_bench.evaluation.bundled_metrics, params.json and the metric
# curve in one job); image datasets: Inception FID and IS (below), parameter counts and the metric curve.


# A bundled run's samples, metrics, parameter counts and metric curve in one job (one Python start-up
# instead of four); each stage still writes its own log.
rule postprocess:
    input:
        final=layout.run_file(layout.FINAL),
        data=data_input,
        classifier=classifier_input,
    output:
        samples=layout.run_file(layout.SAMPLES),
        metrics=layout.run_file(layout.METRICS),
        params=layout.run_file(layout.PARAMS),
        curve=layout.run_file(layout.METRIC_CURVE),
        settings=layout.run_file(layout.RUN_SETTINGS),
    wildcard_constraints:
        dataset=BUNDLED_DATASETS,
    log:
        job=layout.run_file(layout.stage_log("postprocess")),
        stages=[layout.run_file(layout.stage_log(stage)) for stage in ("sample", "evaluate", "count_params",
                                                                       "metric_curve")],
    params:
        train=train_digest,
        evaluation=run_evaluation_digest,
        run=run_args,
        data=data_arg,
        classifier=classifier_arg,
        run_dir=lambda wc, input: str(Path(input.final).parent),
    threads: CFG["threads"]
    resources:
        **job_resources("evaluate"),
    conda:
        "../envs/act-bench.yaml"
    shell:
        "act-bench postprocess {params.run} --final {input.final} {params.data} {params.classifier} "
        "--run-dir {params.run_dir} > {log.job} 2>&1"


rule count_params:
    output:
        layout.run_file(layout.PARAMS),
    wildcard_constraints:
        dataset=IMAGE_DATASETS,
    log:
        layout.run_file(layout.stage_log("count_params")),
    params:
        digest=train_digest,
        run=run_args,
    resources:
        **job_resources("default"),
    conda:
        "../envs/act-bench.yaml"
    shell:
        "act-bench count-params {params.run} --out {output} > {log} 2>&1"


rule reference_metrics:
    input:
        data=data_input,
        classifier=classifier_input,
    output:
        layout.REFERENCE,
    wildcard_constraints:
        dataset=BUNDLED_DATASETS,
    log:
        layout.config_log("reference_metrics/{dataset}"),
    params:
        digest=evaluation_digest,
        data=data_arg,
        config=CONFIG_FILE,
        classifier=classifier_arg,
    threads: CFG["threads"]
    resources:
        **job_resources("evaluate"),
    conda:
        "../envs/act-bench.yaml"
    shell:
        "act-bench reference-metrics --config {params.config:q} --dataset {wildcards.dataset} "
        "{params.data} {params.classifier} --out {output} > {log} 2>&1"


# Image datasets: reference statistics once per dataset and FID mode; each run's samples drawn by
# evaluation.fid.shards jobs that keep only Inception statistics; one job merges them into FID and IS.


rule fid_reference:
    input:
        data=fid_data_input,
    output:
        layout.INCEPTION_REFERENCE,
    wildcard_constraints:
        dataset=IMAGE_DATASETS,
        mode="clean|legacy_tensorflow",
    log:
        layout.config_log("fid_reference/{dataset}_{mode}"),
    params:
        digest=evaluation_digest,
        data=data_arg,
        config=CONFIG_FILE,
    threads: CFG["threads"]
    resources:
        **job_resources("evaluate"),
    conda:
        "../envs/act-bench.yaml"
    shell:
        "act-bench fid-reference --config {params.config:q} --dataset {wildcards.dataset} --mode {wildcards.mode} "
        "{params.data} --out {output} > {log} 2>&1"


rule sample_features:
    input:
        final=layout.run_file(layout.FINAL),
    output:
        layout.run_file(layout.FID_SHARD),
    wildcard_constraints:
        dataset=IMAGE_DATASETS,
        shard=r"\d+",
    log:
        layout.run_file(layout.FID_SHARD_LOG),
    params:
        digest=run_evaluation_digest,
        run=run_args,
    threads: CFG["threads"]
    resources:
        **job_resources("evaluate"),
    conda:
        "../envs/act-bench.yaml"
    shell:
        "act-bench sample-features {params.run} --final {input.final} --shard {wildcards.shard} "
        "--out {output} > {log} 2>&1"


rule evaluate_fid:
    input:
        shards=fid_shards,
        reference=fid_reference_file,
    output:
        metrics=layout.run_file(layout.METRICS),
        settings=layout.run_file(layout.RUN_SETTINGS),
    wildcard_constraints:
        dataset=IMAGE_DATASETS,
    log:
        layout.run_file(layout.stage_log("evaluate_fid")),
    params:
        train=train_digest,
        evaluation=run_evaluation_digest,
        run=run_args,
    resources:
        **job_resources("default"),
    conda:
        "../envs/act-bench.yaml"
    shell:
        "act-bench evaluate-fid {params.run} --features {input.shards} --reference {input.reference} "
        "--out {output.metrics} > {log} 2>&1 && "
        "act-bench run-settings {params.run} --out {output.settings} >> {log} 2>&1"


rule reference_fid:
    input:
        data=data_input,
        reference=fid_reference_file,
    output:
        layout.REFERENCE,
    wildcard_constraints:
        dataset=IMAGE_DATASETS,
    log:
        layout.config_log("reference_fid/{dataset}"),
    params:
        digest=evaluation_digest,
        data=data_arg,
        config=CONFIG_FILE,
    threads: CFG["threads"]
    resources:
        **job_resources("evaluate"),
    conda:
        "../envs/act-bench.yaml"
    shell:
        "act-bench reference-fid --config {params.config:q} --dataset {wildcards.dataset} {params.data} "
        "--reference {input.reference} --out {output} > {log} 2>&1"


rule metric_curve:
    wildcard_constraints:
        dataset=IMAGE_DATASETS,
    input:
        final=layout.run_file(layout.FINAL),
        data=data_input,
        classifier=classifier_input,
    output:
        layout.run_file(layout.METRIC_CURVE),
    log:
        layout.run_file(layout.stage_log("metric_curve")),
    params:
        digest=run_evaluation_digest,
        run=run_args,
        data=data_arg,
        classifier=classifier_arg,
        run_dir=lambda wc, input: str(Path(input.final).parent),
    threads: CFG["threads"]
    resources:
        **job_resources("evaluate"),
    conda:
        "../envs/act-bench.yaml"
    shell:
        "act-bench metric-curve {params.run} --run-dir {params.run_dir} {params.data} {params.classifier} "
        "--out {output} > {log} 2>&1"
