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
    shell:
        "act-bench train {params.run} {params.data} --run-dir {params.run_dir} > {log} 2>&1"


# run.yaml: the run's resolved train and evaluation settings and their digests; rewritten (in the Snakemake
# process, no job of its own) whenever either digest changes. Nothing trains or evaluates from it.
localrules:
    run_settings,


rule run_settings:
    output:
        layout.run_file(layout.RUN_SETTINGS),
    params:
        train=train_digest,
        evaluation=evaluation_digest,
    run:
        settings.write_run_settings(CFG, run_of(wildcards), output[0])
