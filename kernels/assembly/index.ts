// Kernel module entry: every exported kernel of meshwork's Wasm builds.
// ABI: kernels work on byte offsets into linear memory that the host (JS or C) owns and fills;
// no kernel allocates. `heap_base()` tells the host where free memory starts.
export function heap_base(): usize { return __heap_base; }
