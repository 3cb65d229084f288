"""Load a config Headroom exported with the library that reads it, and print what the library understood as JSON.

    python load_trainer_config.py accelerate FILE   # accelerate's own loader, as `accelerate launch --config_file`
    python load_trainer_config.py deepspeed FILE    # DeepSpeed's config parser, as deepspeed.initialize

Run by tests/cli/trainers.rs (docs/trainers.md). The last line of stdout is the JSON.
"""

import json
import sys


def enum_value(v):
    return getattr(v, "value", v)


def load_accelerate(path):
    from accelerate.commands.config.config_args import load_config_from_file

    c = load_config_from_file(path)
    return {
        "class": type(c).__name__,
        "distributed_type": enum_value(c.distributed_type),
        "mixed_precision": enum_value(c.mixed_precision),
        "num_processes": c.num_processes,
        "num_machines": c.num_machines,
        "deepspeed_config": c.deepspeed_config,
        "fsdp_config": c.fsdp_config,
    }


def load_deepspeed(path):
    from deepspeed.runtime.config import DeepSpeedConfig

    # Without torch.distributed initialised DeepSpeed takes a world size of 1, which is what its batch-size
    # check needs here (the export leaves train_batch_size for DeepSpeed to compute).
    c = DeepSpeedConfig(path)
    z = c.zero_config

    def device(offload):
        return None if offload is None else enum_value(offload.device)

    return {
        "stage": c.zero_optimization_stage,
        "micro_batch": c.train_micro_batch_size_per_gpu,
        "accumulation": c.gradient_accumulation_steps,
        "bf16": bool(c.bfloat16_config.enabled),
        "fp16": bool(c.float16_config.enabled),
        "offload_optimizer": device(z.offload_optimizer),
        "offload_param": device(z.offload_param),
    }


def main():
    kind, path = sys.argv[1], sys.argv[2]
    loaded = {"accelerate": load_accelerate, "deepspeed": load_deepspeed}[kind](path)
    print(json.dumps(loaded))


if __name__ == "__main__":
    main()
