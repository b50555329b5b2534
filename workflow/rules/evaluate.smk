# Stage 3: sampling, metrics and parameter counts per run, and the data floor per dataset. Bundled
# datasets: samples.npz and act_bench.evaluation.bundled_metrics; image datasets: Inception FID and IS (below).


rule sample:
    input:
        final="results/{name}/runs/{dataset}/{method}/batch{batch_size}/{model}/aug-{augment}/seed{seed}/final.pt",
    output:
        "results/{name}/runs/{dataset}/{method}/batch{batch_size}/{model}/aug-{augment}/seed{seed}/samples.npz",
    wildcard_constraints:
        dataset=BUNDLED_DATASETS,
    log:
        "results/{name}/runs/{dataset}/{method}/batch{batch_size}/{model}/aug-{augment}/seed{seed}/sample.log",
    params:
        run=run_args,
    threads: CFG["threads"]
    resources:
        **job_resources("evaluate"),
    conda:
        "../../environment.yml"
    shell:
        "act-bench sample {params.run} --final {input.final} --out {output} > {log} 2>&1"


rule evaluate:
    input:
        samples="results/{name}/runs/{dataset}/{method}/batch{batch_size}/{model}/aug-{augment}/seed{seed}/samples.npz",
        data=data_input,
        classifier=classifier_input,
    output:
        "results/{name}/runs/{dataset}/{method}/batch{batch_size}/{model}/aug-{augment}/seed{seed}/metrics.json",
    wildcard_constraints:
        dataset=BUNDLED_DATASETS,
    log:
        "results/{name}/runs/{dataset}/{method}/batch{batch_size}/{model}/aug-{augment}/seed{seed}/evaluate.log",
    params:
        data=data_arg,
        config=CONFIG_FILE,
        classifier=classifier_arg,
    threads: CFG["threads"]
    resources:
        **job_resources("evaluate"),
    conda:
        "../../environment.yml"
    shell:
        "act-bench evaluate --config {params.config:q} --dataset {wildcards.dataset} "
        "--samples {input.samples} {params.data} {params.classifier} --out {output} > {log} 2>&1"


rule count_params:
    output:
        "results/{name}/runs/{dataset}/{method}/batch{batch_size}/{model}/aug-{augment}/seed{seed}/params.json",
    log:
        "results/{name}/runs/{dataset}/{method}/batch{batch_size}/{model}/aug-{augment}/seed{seed}/count_params.log",
    params:
        run=run_args,
    resources:
        **job_resources("default"),
    conda:
        "../../environment.yml"
    shell:
        "act-bench count-params {params.run} --out {output} > {log} 2>&1"


rule reference_metrics:
    input:
        data=data_input,
        classifier=classifier_input,
    output:
        "results/{name}/reference/{dataset}.json",
    wildcard_constraints:
        dataset=BUNDLED_DATASETS,
    log:
        "results/{name}/logs/reference_metrics/{dataset}.log",
    params:
        data=data_arg,
        config=CONFIG_FILE,
        classifier=classifier_arg,
    threads: CFG["threads"]
    resources:
        **job_resources("evaluate"),
    conda:
        "../../environment.yml"
    shell:
        "act-bench reference-metrics --config {params.config:q} --dataset {wildcards.dataset} "
        "{params.data} {params.classifier} --out {output} > {log} 2>&1"


# Image datasets: reference statistics once per dataset and FID mode; each run's samples drawn by
# evaluation.fid.shards jobs that keep only Inception statistics; one job merges them into FID and IS.


rule fid_reference:
    input:
        data=fid_data_input,
    output:
        "results/{name}/reference/{dataset}_inception_{mode}.npz",
    wildcard_constraints:
        dataset=IMAGE_DATASETS,
        mode="clean|legacy_tensorflow",
    log:
        "results/{name}/logs/fid_reference/{dataset}_{mode}.log",
    params:
        data=data_arg,
        config=CONFIG_FILE,
    threads: CFG["threads"]
    resources:
        **job_resources("evaluate"),
    conda:
        "../../environment.yml"
    shell:
        "act-bench fid-reference --config {params.config:q} --dataset {wildcards.dataset} --mode {wildcards.mode} "
        "{params.data} --out {output} > {log} 2>&1"


rule sample_features:
    input:
        final="results/{name}/runs/{dataset}/{method}/batch{batch_size}/{model}/aug-{augment}/seed{seed}/final.pt",
    output:
        "results/{name}/runs/{dataset}/{method}/batch{batch_size}/{model}/aug-{augment}/seed{seed}/fid/shard{shard}.npz",
    wildcard_constraints:
        dataset=IMAGE_DATASETS,
        shard=r"\d+",
    log:
        "results/{name}/runs/{dataset}/{method}/batch{batch_size}/{model}/aug-{augment}/seed{seed}/fid/shard{shard}.log",
    params:
        run=run_args,
    threads: CFG["threads"]
    resources:
        **job_resources("evaluate"),
    conda:
        "../../environment.yml"
    shell:
        "act-bench sample-features {params.run} --final {input.final} --shard {wildcards.shard} "
        "--out {output} > {log} 2>&1"


rule evaluate_fid:
    input:
        shards=fid_shards,
        reference=fid_reference_file,
    output:
        "results/{name}/runs/{dataset}/{method}/batch{batch_size}/{model}/aug-{augment}/seed{seed}/metrics.json",
    wildcard_constraints:
        dataset=IMAGE_DATASETS,
    log:
        "results/{name}/runs/{dataset}/{method}/batch{batch_size}/{model}/aug-{augment}/seed{seed}/evaluate_fid.log",
    params:
        config=CONFIG_FILE,
    resources:
        **job_resources("default"),
    conda:
        "../../environment.yml"
    shell:
        "act-bench evaluate-fid --config {params.config:q} --dataset {wildcards.dataset} "
        "--features {input.shards} --reference {input.reference} --out {output} > {log} 2>&1"


rule reference_fid:
    input:
        data=data_input,
        reference=fid_reference_file,
    output:
        "results/{name}/reference/{dataset}.json",
    wildcard_constraints:
        dataset=IMAGE_DATASETS,
    log:
        "results/{name}/logs/reference_fid/{dataset}.log",
    params:
        data=data_arg,
        config=CONFIG_FILE,
    threads: CFG["threads"]
    resources:
        **job_resources("evaluate"),
    conda:
        "../../environment.yml"
    shell:
        "act-bench reference-fid --config {params.config:q} --dataset {wildcards.dataset} {params.data} "
        "--reference {input.reference} --out {output} > {log} 2>&1"


rule metric_curve:
    input:
        final="results/{name}/runs/{dataset}/{method}/batch{batch_size}/{model}/aug-{augment}/seed{seed}/final.pt",
        data=data_input,
        classifier=classifier_input,
    output:
        "results/{name}/runs/{dataset}/{method}/batch{batch_size}/{model}/aug-{augment}/seed{seed}/metric_curve.json",
    log:
        "results/{name}/runs/{dataset}/{method}/batch{batch_size}/{model}/aug-{augment}/seed{seed}/metric_curve.log",
    params:
        run=run_args,
        data=data_arg,
        classifier=classifier_arg,
        run_dir=lambda wc, input: str(Path(input.final).parent),
    threads: CFG["threads"]
    resources:
        **job_resources("evaluate"),
    conda:
        "../../environment.yml"
    shell:
        "act-bench metric-curve {params.run} --run-dir {params.run_dir} {params.data} {params.classifier} "
        "--out {output} > {log} 2>&1"
