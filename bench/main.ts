/** Benchmark entry (placeholder until the suites land in this session). */
export async function benchMain(_args: string[]): Promise<number> {
  console.log('bench: suites not written yet');
  return 0;
}
