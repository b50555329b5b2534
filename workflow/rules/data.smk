# Stage 1: bundled datasets (train/held-out split) and the digits feature extractor.


rule prepare_data:
    output:
        "results/{name}/data/{dataset}.npz",
    log:
        "results/{name}/logs/prepare_data/{dataset}.log",
    params:
        config=CONFIG_FILE,
    conda:
        "../../environment.yml"
    shell:
        "act-bench prepare-data --config {params.config:q} --dataset {wildcards.dataset} "
        "--out {output} > {log} 2>&1"


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
    conda:
        "../../environment.yml"
    shell:
        "act-bench train-classifier --config {params.config:q} --data {input} --out {output} > {log} 2>&1"
