# Stage 1: bundled datasets (train/held-out split), the ImageNet64 conversion, and the digits
# feature extractor.


rule prepare_data:
    output:
        "results/{name}/data/{dataset}.npz",
    log:
        "results/{name}/logs/prepare_data/{dataset}.log",
    params:
        config=CONFIG_FILE,
    resources:
        **job_resources("default"),
    conda:
        "../../environment.yml"
    shell:
        "act-bench prepare-data --config {params.config:q} --dataset {wildcards.dataset} "
        "--out {output} > {log} 2>&1"


rule convert_imagenet64:
    output:
        "results/{name}/data/{dataset}/meta.json",
    log:
        "results/{name}/logs/convert_imagenet64/{dataset}.log",
    params:
        npz_dir=lambda wc: CFG["datasets"][wc.dataset]["npz_dir"],
        out=lambda wc, output: str(Path(output[0]).parent),
    resources:
        **job_resources("default"),
    conda:
        "../../environment.yml"
    shell:
        "act-bench convert-imagenet64 --npz-dir {params.npz_dir:q} --out {params.out:q} > {log} 2>&1"


rule train_classifier:
    input:
        "results/{name}/data/{dataset}.npz",
    output:
        "results/{name}/features/{dataset}-classifier.pt",
    log:
        "results/{name}/logs/train_classifier/{dataset}.log",
    params:
        config=CONFIG_FILE,
    threads: CFG["threads"]
    resources:
        **job_resources("default"),
    conda:
        "../../environment.yml"
    shell:
        "act-bench train-classifier --config {params.config:q} --data {input} --out {output} > {log} 2>&1"
