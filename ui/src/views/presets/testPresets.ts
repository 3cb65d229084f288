// Preset bodies the Presets tests share: the built-in int4 as the backend lists it.

import type { PresetBody } from "../../lib/bindings";

export const int4: PresetBody = {
  description: "4-bit NF4",
  load: { device: "cuda", torch_dtype: "bfloat16", device_map: "auto", max_memory: {} },
  quantization: {
    load_in_8bit: false,
    load_in_4bit: true,
    llm_int8_threshold: 6,
    llm_int8_skip_modules: null,
    llm_int8_enable_fp32_cpu_offload: false,
    llm_int8_has_fp16_weight: false,
    bnb_4bit_compute_dtype: "bfloat16",
    bnb_4bit_quant_type: "nf4",
    bnb_4bit_use_double_quant: false,
    bnb_4bit_quant_storage: "uint8",
  },
};
