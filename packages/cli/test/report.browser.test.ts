/**
 * The --report page rendered by a real browser: headless Chromium (Debian's, driven by
 * playwright-core) loads the file, every chart must be there with a non-zero size, the
 * histograms must carry their LUT / grid / threshold overlays, and nothing may be fetched.
 * A screenshot goes to test-artifacts/ (gitignored) for a person to look at.
 *
 * Without Chromium the test is skipped with a message — except in CI (CI set), where it
 * fails: `.ci/run` installs Debian's chromium package.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { REPO, cli, fixture, tempDir } from './helpers.js';

const CHROMIUM = process.env.SILICA_CHROMIUM ?? '/usr/bin/chromium';
const HAVE = existsSync(CHROMIUM);
const IN_CI = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function render(html: string, screenshot: string) {
  const profile = mkdtempSync(join(tmpdir(), 'silica-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1100, height: 900 } });
  try {
    const page = await context.newPage();
    const requests: string[] = [];
    const errors: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    const url = pathToFileURL(html).href;
    await page.goto(url, { waitUntil: 'load' });
    const charts = await page.$$eval('svg.chart', (svgs) =>
      svgs.map((s) => {
        const box = s.getBoundingClientRect();
        const bars = [...s.querySelectorAll('rect.bar')].map((r) => r.getBoundingClientRect()).filter((b) => b.width > 0 && b.height > 0).length;
        return {
          chart: s.getAttribute('data-chart'),
          layer: s.getAttribute('data-layer'),
          width: box.width,
          height: box.height,
          bars,
          overlays: [...s.querySelectorAll('[data-overlay]')].map((o) => o.getAttribute('data-overlay')),
          outline: s.querySelector('path.compressed')?.getBoundingClientRect().height ?? 0,
        };
      }),
    );
    const title = await page.title();
    await page.screenshot({ path: screenshot, fullPage: true });
    return { charts, requests: requests.filter((r) => r !== url), errors, title };
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

describe('compress --report in headless Chromium', () => {
  if (!HAVE && IN_CI) {
    it('needs Chromium in CI', () => {
      throw new Error(`${CHROMIUM} not found, but CI is set: .ci/run installs Debian's chromium (apt-get install -y chromium); set SILICA_CHROMIUM to another Chromium binary if it lives elsewhere`);
    });
    return;
  }
  if (!HAVE) {
    it.skip(`renders the report (skipped: ${CHROMIUM} not found — apt-get install chromium, or set SILICA_CHROMIUM)`, () => {});
    return;
  }
  const dir = tempDir();

  it('every chart renders with a non-zero size; histograms carry their overlays; nothing is fetched', async () => {
    const report = join(dir, 'report.html');
    const r = await cli(['compress', fixture('mlp'), '-o', join(dir, 'out.mlpackage'), '--prune', '0.3', '--palettize', '4', '--group-size', '16', '--joint', '--workers', '0', '--report', report, '-q']);
    expect(r.code).toBe(0);
    mkdirSync(join(REPO, 'test-artifacts'), { recursive: true });
    const shot = join(REPO, 'test-artifacts', 'cli-compress-report.png');
    const page = await render(report, shot);
    expect(page.title).toBe('Silica compression report — out.mlpackage');
    expect(page.errors).toEqual([]);
    expect(page.requests).toEqual([]);
    expect(page.charts.map((c) => c.chart)).toEqual(['sizes', 'bits', 'snr', 'histogram', 'histogram']);
    for (const c of page.charts) {
      expect(c.width, `${c.chart} width`).toBeGreaterThan(300);
      expect(c.height, `${c.chart} height`).toBeGreaterThan(60);
      expect(c.bars, `${c.chart} bars`).toBeGreaterThan(0);
    }
    expect(page.charts.find((c) => c.chart === 'sizes')!.bars).toBe(4); // before and after for the two weights
    for (const h of page.charts.filter((c) => c.chart === 'histogram')) {
      expect(h.outline).toBeGreaterThan(0);
      expect(h.overlays.filter((o) => o === 'lut')).toHaveLength(16);
      expect(h.overlays).toContain('lut-entry');
      expect(h.overlays).toContain('threshold');
    }
    expect(existsSync(shot)).toBe(true);
  }, 180_000);
});
