/** Runs `silica` with the process's arguments (the script bin/silica.js starts). */
import { main } from './main.js';

await main(process.argv.slice(2));
