import { readMLPackageSync as readMLPackage } from '@silica/mlpackage-reader';
import { printProgram } from '@silica/ir';
for (const name of ['mlp', 'mlp_palette_2bit_uniform', 'mlp_palette_4bit_grouped16', 'mlp_ios16_palette_4bit_kmeans', 'mlp_prune50_palette4']) {
  const p = readMLPackage(`/work/shared/fixtures/${name}.mlpackage`);
  console.log('=====', name, p.target);
  console.log(printProgram(p));
}
