/**
 * Test helper for op signatures: builds a one-op function whose operands are function
 * inputs (given as a ValueType) or const ops (given as a Tensor), then type-checks or
 * evaluates the op through the registry.
 */
import {
  Function,
  Op,
  Program,
  type Target,
  Tensor,
  type ValueType,
  getSignature,
  opArgs,
  typeCheckOp,
} from '../../src/index.js';

export type Operand = Tensor | ValueType;
export type Operands = Record<string, Operand | readonly Operand[]>;

export function buildOp(target: Target, type: string, operands: Operands): { program: Program; fn: Function; op: Op } {
  const program = new Program(target);
  const fn = program.addFunction(new Function('main'));
  const inputs: Record<string, ReturnType<Function['addInput']>[]> = {};
  let k = 0;
  for (const [param, x] of Object.entries(operands)) {
    const list = (Array.isArray(x) ? x : [x]) as Operand[];
    inputs[param] = list.map((o) => {
      const name = `${param}_${k++}`;
      if (o instanceof Tensor) {
        const c = fn.block.append(
          new Op({ type: 'const', outputs: [{ name, type: { kind: 'tensor', dtype: o.dtype, shape: o.shape } }], attributes: { val: o } }),
        );
        return c.output;
      }
      return fn.addInput(name, o);
    });
  }
  const op = new Op({ type, name: 'op', inputs });
  fn.block.append(op);
  return { program, fn, op };
}

/** Output types inferred for the op (throws OpTypeError when rejected). */
export function checkOp(target: Target, type: string, operands: Operands): ValueType[] {
  const { op } = buildOp(target, type, operands);
  return typeCheckOp(op, target);
}

/** Evaluated outputs of a const-foldable / constexpr op with const operands. */
export function evalOp(target: Target, type: string, operands: Operands): Tensor[] {
  const { op } = buildOp(target, type, operands);
  typeCheckOp(op, target);
  const sig = getSignature(type, target);
  if (!sig?.evaluate) throw new Error(`${type} has no evaluate at ${target}`);
  return sig.evaluate(opArgs(op, target));
}
