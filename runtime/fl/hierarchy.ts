/**
 * Hierarchical aggregation: participants -> leaf aggregators -> ... -> root, each node combining at most
 * `fanin` children. For FedAvg a node forwards its exact partial sum (wrapping i64 weighted sum and the
 * weight total), so integer partial sums compose exactly: the root's sum has the same bytes as flat
 * aggregation, whatever the tree. Communication is accounted per participant and per aggregator.
 * @module
 */
import { checkInt } from '../errors.js';
import { runKernel } from '../registry.js';
import { ordered, stack, type EncodedUpdate } from './strategy.js';

/** A partial aggregate as it travels up the tree. */
export interface PartialSum {
  /** Wrapping i64 weighted sums, one per coordinate. */
  sums: BigInt64Array;
  /** Total weight (examples) of the participants below. */
  weight: number;
  /** Participants below. */
  count: number;
}

/** Bytes on the wire, per round. */
export interface TreeTraffic {
  /** Levels of aggregators (1: a single root). */
  levels: number;
  /** Aggregator nodes per level, leaves first. */
  nodesPerLevel: number[];
  /** Bytes one participant sends (its encoded update: 4d, plus a 16-byte header). */
  bytesPerParticipant: number;
  /** Most bytes any one aggregator receives plus sends. */
  maxBytesPerAggregator: number;
}

const HEADER = 16;

/** Leaf level: weighted sums of groups of at most `fanin` updates (in the given order). */
function leaves(updates: EncodedUpdate[], d: number, fanin: number): PartialSum[] {
  const out: PartialSum[] = [];
  for (let s = 0; s < updates.length; s += fanin) {
    const group = updates.slice(s, s + fanin);
    const [sums] = runKernel('wsum', { x: stack(group, d), w: new Int32Array(group.map((u) => u.samples)) }, { n: group.length, d }) as [BigInt64Array];
    out.push({ sums, weight: group.reduce((a, u) => a + u.samples, 0), count: group.length });
  }
  return out;
}

/** One level up: adds the partial sums of groups of at most `fanin` children (wrapping i64). */
function combine(children: PartialSum[], fanin: number): PartialSum[] {
  const out: PartialSum[] = [];
  for (let s = 0; s < children.length; s += fanin) {
    const group = children.slice(s, s + fanin);
    const sums = new BigInt64Array(group[0]!.sums.length);
    for (const c of group) for (let i = 0; i < sums.length; i++) sums[i] = BigInt.asIntN(64, sums[i]! + c.sums[i]!);
    out.push({ sums, weight: group.reduce((a, c) => a + c.weight, 0), count: group.reduce((a, c) => a + c.count, 0) });
  }
  return out;
}

/**
 * Aggregates encoded updates through a tree of fan-in `fanin` (>= 2) and returns the root's partial sum
 * and the traffic. Updates are taken in id order, so the result does not depend on arrival order.
 */
export function aggregateTree(updates: EncodedUpdate[], d: number, fanin: number): { root: PartialSum; traffic: TreeTraffic } {
  checkInt('aggregateTree', 'fanin', fanin, 2, 1 << 20);
  checkInt('aggregateTree', 'd', d, 1, 2 ** 28);
  if (!updates.length) throw new RangeError('aggregateTree: no updates');
  const sorted = ordered(updates);
  let level = leaves(sorted, d, fanin);
  const nodesPerLevel = [level.length];
  // a leaf receives up to fanin encoded updates (4d + header each) and sends one partial sum (8d + header)
  let maxBytes = Math.min(fanin, sorted.length) * (4 * d + HEADER) + 8 * d + HEADER;
  while (level.length > 1) {
    const children = level.length;
    level = combine(level, fanin);
    nodesPerLevel.push(level.length);
    maxBytes = Math.max(maxBytes, Math.min(fanin, children) * (8 * d + HEADER) + 8 * d + HEADER);
  }
  return { root: level[0]!, traffic: { levels: nodesPerLevel.length, nodesPerLevel, bytesPerParticipant: 4 * d + HEADER, maxBytesPerAggregator: maxBytes } };
}
