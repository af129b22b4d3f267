// Kernel module entry: every exported kernel of meshwork's Wasm builds (simd, scalar, threads).
// ABI: kernels work on byte offsets into linear memory that the host (JS or the C driver) owns and fills;
// no kernel allocates or keeps state between calls. `heap_base()` tells the host where free memory starts.
export function heap_base(): usize { return __heap_base; }
export { expf as math_expf, logf as math_logf, exp64 as math_exp64, log64 as math_log64 } from './_math';
export { philox4x32_10 as random_philox, random_u32, random_uniform_f32, random_normal_f32 } from './random';
export { dot_f32, l2norm_f32, scale_f32, axpy_f32, gemv_f32, bias_act_f32, softmax_xent_f32 } from './vector';
export { fixed_encode, fixed_decode } from './fixedpoint';
export {
  matmul, matmul_scratch_bytes, matmul_packed_b_bytes, matmul_pack_b, matmul_rows_scratch_bytes, matmul_rows, matmul_block,
  matmul_col_align, matmul_row_align,
} from './matmul';
export {
  agg_sum_i32, agg_sum_i64, agg_wsum_i64, agg_median_scratch_bytes, agg_median_i32, agg_trimmed_scratch_bytes, agg_trimmed_mean_i32,
  agg_sqdist_scratch_bytes, agg_pairwise_sqdist_i64,
} from './aggregate';
