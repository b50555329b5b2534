# Stage 2: training. Checkpoints live in <run>/checkpoints/, outside the declared outputs, so a
# failed or killed job keeps them and a rerun resumes from the newest one.


rule train:
    input:
        data=data_input,
    output:
        final=layout.run_file(layout.FINAL),
        log=layout.run_file(layout.TRAIN_LOG),
        summary=layout.run_file(layout.TRAIN_SUMMARY),
    log:
        layout.run_file(layout.TRAIN_STDOUT),
    params:
        digest=train_digest,
        data=data_arg,
        run=run_args,
        run_dir=lambda wc, output: str(Path(output.final).parent),
    threads: CFG["threads"]
    resources:
        **job_resources("train"),
    conda:
        "../envs/act-bench.yaml"
    shell:
        "act-bench train {params.run} {params.data} --run-dir {params.run_dir} > {log} 2>&1"

