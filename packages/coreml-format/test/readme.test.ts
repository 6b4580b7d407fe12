/**
 * The README's example is run exactly as the README says to run it
 * (`node --conditions=source --import tsx example.ts`), so it cannot rot.
 */
import { describe, expect, it } from 'vitest';
import { runReadmeExample } from '@silica/test-support';


describe('README', () => {
  it('the Example block runs and prints what its last comment says', () => {
    const { printed, promised } = runReadmeExample(new URL('../README.md', import.meta.url));
    expect(printed).toBe(promised);
  });
});
