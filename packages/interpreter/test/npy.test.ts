import { join } from 'node:path';
import { fixturesDir } from './helpers.js';
import { describe, expect, it } from 'vitest';
import { type NpyArray, npyToFloat32, npyToInput, readNpy, readNpz, writeNpy, writeNpz } from '../src/index.js';

/** Files written by NumPy 2.4 (`np.save` / `np.savez_compressed`), base64. */
const NUMPY = {
  // np.array([[1, 0.5, -2], [65504, 0.1, 0]], dtype=np.float16)
  f2: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGYyJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAPAA4AMD/e2YuAAA=',
  // np.array([True, False, True])
  b1: 'k05VTVBZAQB2AHsnZGVzY3InOiAnfGIxJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoBAAE=',
  // np.array([-3, 2**40], dtype=np.int64)
  i8: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGk4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAr9/////////wAAAAAAAQAA',
  // np.array([1, 2], dtype='>f4')
  be: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPmY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAo/gAAAQAAAAA==',
  // np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3))
  fo: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBUcnVlLCAnc2hhcGUnOiAoMiwgMyksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAABAQAAAgD8AAIBAAAAAQAAAoEA=',
  // np.array(7, dtype=np.int32)
  sc: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGk0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKCksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoHAAAA',
  // np.savez_compressed(f, a=np.arange(5, dtype=np.float32), b=np.array([[1, 2], [3, 4]], dtype=np.int16)) — deflate + zip64 local headers
  npz: 'UEsDBC0AAAAIAAAAIQBVzE/N//////////8FABQAYS5ucHkBABAAlAAAAAAAAABQAAAAAAAAAJvsF+obEMnIUMZQrZ6SWpxcpG6loG6TZqKuo6Cell9UUpSYF59flJIKEndLzClOBYoXZyQWpAL5GqY6mjoKtQoUAC4GMGiwBxIOQATEDQ4AUEsDBC0AAAAIAAAAIQAAytxt//////////8FABQAYi5ucHkBABAAiAAAAAAAAABOAAAAAAAAAJvsF+obEMnIUMZQrZ6SWpxcpG6loG6TaaSuo6Cell9UUpSYF59flJIKEndLzClOBYoXZyQWpAL5GkY6CkaaOgq1CmQDLkYGJgZmBhYGAFBLAQItAy0AAAAIAAAAIQBVzE/NUAAAAJQAAAAFAAAAAAAAAAAAAACAAQAAAABhLm5weVBLAQItAy0AAAAIAAAAIQAAytxtTgAAAIgAAAAFAAAAAAAAAAAAAACAAYcAAABiLm5weVBLBQYAAAAAAgACAGYAAAAMAQAAAAA=',
};
const bytes = (k: keyof typeof NUMPY) => new Uint8Array(Buffer.from(NUMPY[k], 'base64'));

describe('.npy', () => {
  it('reads NumPy files: fp16 (as bits), bool, int64, rank 0', () => {
    const h = readNpy(bytes('f2'));
    expect(h.dtype).toBe('f2');
    expect(h.shape).toEqual([2, 3]);
    expect(h.data).toBeInstanceOf(Uint16Array);
    expect(Array.from(h.data as Uint16Array)).toEqual([0x3c00, 0x3800, 0xc000, 0x7bff, 0x2e66, 0]);
    expect(Array.from(npyToFloat32(h))).toEqual([1, 0.5, -2, 65504, 0.0999755859375, 0]);
    const bo = readNpy(bytes('b1'));
    expect(bo.dtype).toBe('b1');
    expect(Array.from(bo.data as Uint8Array)).toEqual([1, 0, 1]);
    const l = readNpy(bytes('i8'));
    expect(Array.from(l.data as BigInt64Array)).toEqual([-3n, 2n ** 40n]);
    const s = readNpy(bytes('sc'));
    expect(s.shape).toEqual([]);
    expect(Array.from(s.data as Int32Array)).toEqual([7]);
  });

  it('writes byte-identical files to NumPy', () => {
    for (const k of ['f2', 'b1', 'i8', 'sc'] as const) {
      expect(Buffer.from(writeNpy(readNpy(bytes(k)))).toString('base64'), k).toBe(NUMPY[k]);
    }
  });

  it('round-trips every supported dtype', () => {
    const arrays: NpyArray[] = [
      { dtype: 'f2', shape: [2], data: new Uint16Array([0x3c00, 0xfbff]) },
      { dtype: 'f4', shape: [1, 3], data: new Float32Array([1.5, -2, 3e-8]) },
      { dtype: 'f8', shape: [2], data: new Float64Array([Math.PI, -0]) },
      { dtype: 'i1', shape: [2], data: new Int8Array([-128, 127]) },
      { dtype: 'i2', shape: [2], data: new Int16Array([-32768, 32767]) },
      { dtype: 'i4', shape: [2, 1], data: new Int32Array([-5, 2147483647]) },
      { dtype: 'i8', shape: [1], data: new BigInt64Array([-(2n ** 62n)]) },
      { dtype: 'u1', shape: [3], data: new Uint8Array([0, 128, 255]) },
      { dtype: 'u2', shape: [1], data: new Uint16Array([65535]) },
      { dtype: 'b1', shape: [2, 2], data: new Uint8Array([1, 0, 0, 1]) },
      { dtype: 'f4', shape: [0, 3], data: new Float32Array(0) },
    ];
    for (const a of arrays) {
      const file = writeNpy(a);
      // the data starts on a 64-byte boundary
      expect((new DataView(file.buffer).getUint16(8, true) + 10) % 64).toBe(0);
      const back = readNpy(file);
      expect(back.dtype).toBe(a.dtype);
      expect(back.shape).toEqual(a.shape);
      expect(Array.from(back.data as ArrayLike<number>)).toEqual(Array.from(a.data as ArrayLike<number>));
    }
  });

  it('switches to format 2.0 when the header does not fit 65535 bytes', () => {
    const shape = new Array(25000).fill(1);
    const file = writeNpy({ dtype: 'f4', shape, data: new Float32Array([42]) });
    expect(file[6]).toBe(2);
    const back = readNpy(file);
    expect(back.shape.length).toBe(25000);
    expect(Array.from(back.data as Float32Array)).toEqual([42]);
  });

  it('rejects big-endian data, Fortran order, bad magic and short data with clear errors', () => {
    expect(() => readNpy(bytes('be'), 'be.npy')).toThrow("be.npy: big-endian data (>f4) is not supported; convert with arr.astype('<f4')");
    expect(() => readNpy(bytes('fo'), 'fo.npy')).toThrow('fo.npy: Fortran-order arrays are not supported');
    expect(() => readNpy(new Uint8Array(20), 'z.npy')).toThrow('z.npy: not a .npy file (bad magic)');
    const f = bytes('f2');
    expect(() => readNpy(f.subarray(0, f.length - 2), 't.npy')).toThrow('t.npy: <f2 [2, 3] needs 12 data bytes, the file has 10');
    const c = writeNpy({ dtype: 'f4', shape: [1], data: new Float32Array([1]) });
    c.set(new TextEncoder().encode("'<c8'"), c.indexOf(0x27, 12 + 8));
    expect(() => readNpy(c, 'c.npy')).toThrow(/c.npy: unsupported dtype <c8/);
  });

  it('gives interpreter inputs: fp16 as bits, others as typed arrays', () => {
    const inp = npyToInput(readNpy(bytes('f2')));
    expect(inp.dtype).toBe('fp16');
    expect(inp.data).toBeInstanceOf(Uint16Array);
    expect(npyToInput(readNpy(bytes('sc'))).dtype).toBe('int32');
  });
});

describe('.npz', () => {
  it('reads a deflated NumPy archive with zip64 local headers', () => {
    const z = readNpz(bytes('npz'));
    expect(Object.keys(z).sort()).toEqual(['a', 'b']);
    expect(Array.from(z.a.data as Float32Array)).toEqual([0, 1, 2, 3, 4]);
    expect(z.b.dtype).toBe('i2');
    expect(z.b.shape).toEqual([2, 2]);
    expect(Array.from(z.b.data as Int16Array)).toEqual([1, 2, 3, 4]);
  });

  it('round-trips through writeNpz deterministically', () => {
    const arrays = { x: { dtype: 'f4' as const, shape: [2], data: new Float32Array([1, 2]) }, m: { dtype: 'b1' as const, shape: [1], data: new Uint8Array([1]) } };
    const a = writeNpz(arrays);
    expect(Buffer.from(writeNpz(arrays)).equals(Buffer.from(a))).toBe(true);
    const back = readNpz(a);
    expect(Array.from(back.x.data as Float32Array)).toEqual([1, 2]);
    expect(back.m.dtype).toBe('b1');
  });

  it('reports a file that is not a zip', () => {
    expect(() => readNpz(new Uint8Array([1, 2, 3]))).toThrow(/not a readable zip archive/);
  });

  it('reads the coremltools fixtures', () => {
    const fixtures = fixturesDir;
    const x = readNpz(join(fixtures, 'mlp.inputs.npz')).x;
    expect(x.dtype).toBe('f4');
    expect(x.shape).toEqual([1, 256]);
    expect(Array.from((x.data as Float32Array).slice(0, 2))).toEqual([Math.fround(-1.0864464044570923), Math.fround(-0.8960651159286499)]);
    const kv = readNpz(join(fixtures, 'kv_cache_io.inputs.npz'));
    expect(kv.k_cache.dtype).toBe('f2');
    expect(kv.k_cache.shape).toEqual([1, 4, 32, 64]);
    expect(kv.pos.dtype).toBe('i4');
    expect(Array.from(kv.pos.data as Int32Array)).toEqual([5]);
    const y = readNpz(join(fixtures, 'convnet.expected.npz')).y;
    expect(y.shape).toEqual([1, 10]);
    expect((y.data as Float32Array)[0]).toBe(Math.fround(0.0371815487742424));
  });
});
