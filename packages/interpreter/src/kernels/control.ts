/**
 * State ops (mil-ops.md §2) and ops with nested blocks (`cond`, `while_loop`).
 */
import type { Kernel } from '../kernel.js';
import { fmt } from '../rtensor.js';

/** read_state(input): a copy of the state's current contents (states start as zeros). */
const readState: Kernel = (ctx) => [ctx.readState('input')];

/** write_state(input, data): no outputs; afterwards the state holds `data`. */
const writeState: Kernel = (ctx) => {
  ctx.writeState('input', ctx.tensor('data'));
  return [];
};

/** coreml_update_state(state, value): the coremltools dialect form of write_state + read_state (§2.3). */
const updateState: Kernel = (ctx) => {
  const value = ctx.tensor('value');
  ctx.writeState('state', value);
  return [value];
};

/** cond(pred): runs block 0 when pred is true, else block 1; the block's outputs are the op's. */
const cond: Kernel = (ctx) => {
  const pred = ctx.tensor('pred');
  if (pred.data.length !== 1) ctx.fail(`must be a scalar, got ${fmt(pred)}`, 'pred');
  if (ctx.op.blocks.length !== 2) ctx.fail(`needs 2 blocks (true, false), has ${ctx.op.blocks.length}`);
  return ctx.runBlock(pred.data[0] ? 0 : 1, []);
};

/**
 * while_loop(loop_vars): block 0 (cond) maps the loop vars to a bool, block 1 (body)
 * maps them to their next values; the outputs are the vars once cond is false.
 */
const whileLoop: Kernel = (ctx) => {
  if (ctx.op.blocks.length !== 2) ctx.fail(`needs 2 blocks (cond, body), has ${ctx.op.blocks.length}`);
  let vars = ctx.tuple('loop_vars');
  for (;;) {
    const [c] = ctx.runBlock(0, vars);
    if (!c || c.data.length !== 1) ctx.fail('the cond block must return one scalar bool');
    if (!c.data[0]) return vars;
    vars = ctx.runBlock(1, vars);
  }
};

export const CONTROL_KERNELS: Record<string, Kernel> = {
  read_state: readState,
  write_state: writeState,
  coreml_update_state: updateState,
  cond,
  while_loop: whileLoop,
};
