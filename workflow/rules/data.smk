# Stage 1: bundled datasets (train/held-out split), the ImageNet64 conversion, and the digits
# feature extractor.


rule prepare_data:
    output:
        layout.DATA_NPZ,
    log:
        layout.config_log("prepare_data/{dataset}"),
    params:
        digest=data_digest,
        config=CONFIG_FILE,
    resources:
        **job_resources("default"),
    conda:
        "../envs/act-bench.yaml"
    shell:
        "act-bench prepare-data --config {params.config:q} --dataset {wildcards.dataset} "
        "--out {output} > {log} 2>&1"


rule convert_imagenet64:
    output:
        layout.IMAGENET64_META,
    log:
        layout.config_log("convert_imagenet64/{dataset}"),
    params:
        npz_dir=lambda wc: CFG["datasets"][wc.dataset]["npz_dir"],
        out=lambda wc, output: str(Path(output[0]).parent),
    resources:
        **job_resources("default"),
    conda:
        "../envs/act-bench.yaml"
    shell:
        "act-bench convert-imagenet64 --npz-dir {params.npz_dir:q} --out {params.out:q} > {log} 2>&1"


rule train_classifier:
    input:
        layout.DATA_NPZ,
    output:
        layout.CLASSIFIER,
    log:
        layout.config_log("train_classifier/{dataset}"),
    params:
        digest=classifier_digest,
        config=CONFIG_FILE,
    threads: CFG["threads"]
    resources:
        **job_resources("default"),
    conda:
        "../envs/act-bench.yaml"
    shell:
        "act-bench train-classifier --config {params.config:q} --data {input} --out {output} > {log} 2>&1"
