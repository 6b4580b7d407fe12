/** Every kernel, by op type. */
import type { Kernel } from '../kernel.js';
import { ATTENTION_KERNELS } from './attention.js';
import { CONTROL_KERNELS } from './control.js';
import { ELEMENTWISE_KERNELS } from './elementwise.js';
import { LINALG_KERNELS } from './linalg.js';
import { REDUCE_KERNELS } from './reduce.js';
import { SHAPE_KERNELS } from './shape.js';

export const KERNELS: Readonly<Record<string, Kernel>> = {
  ...ELEMENTWISE_KERNELS,
  ...SHAPE_KERNELS,
  ...LINALG_KERNELS,
  ...REDUCE_KERNELS,
  ...ATTENTION_KERNELS,
  ...CONTROL_KERNELS,
};
