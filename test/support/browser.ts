import { existsSync } from 'node:fs';

/**
 * Headless Chromium for the console's browser test: Debian's `chromium` package driven by playwright-core
 * (which downloads no browser). Says what is missing instead of failing obscurely.
 */
export interface BrowserSupport {
  chromium: any | null;
  executablePath: string | null;
  missing: string[];
}

export function browserSupport(): BrowserSupport {
  const missing: string[] = [];
  let chromium: any = null;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    chromium = (require('playwright-core') as { chromium: unknown }).chromium;
  } catch {
    missing.push('playwright-core (npm install: it is a pinned devDependency)');
  }
  const executablePath =
    [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find(
      (path): path is string => !!path && existsSync(path),
    ) ?? null;
  if (!executablePath) missing.push('a Chromium binary (apt-get install -y chromium, or set CHROMIUM_PATH)');
  return { chromium, executablePath, missing };
}
