import { Controller, Get, NotFoundException, Param, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Public } from '@vh/http';

/**
 * The operators' console: one static page and a small vanilla JS module over the JSON API (no framework,
 * no build step). The files are public; everything they show comes from operator-only routes.
 */
const ASSETS: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
};

/** Only our own script, style and API; no framing, no inline script, no form posts elsewhere. */
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-cache',
};

/** The assets sit beside this file in the sources; compiled, this runs from dist/, so look there too. */
function assetsDirectory(): string {
  const candidates = [join(__dirname, 'assets'), resolve(__dirname, '../../../../../apps/api/src/console/assets')];
  const found = candidates.find((dir) => existsSync(join(dir, 'index.html')));
  if (!found) throw new Error(`console assets not found in ${candidates.join(' or ')}`);
  return found;
}

@ApiExcludeController()
@Public()
@Controller('console')
export class ConsoleController {
  private readonly files = new Map<string, Buffer>();

  constructor() {
    const dir = assetsDirectory();
    for (const name of Object.keys(ASSETS)) this.files.set(name, readFileSync(join(dir, name)));
  }

  @Get()
  page(@Res() response: Response): void {
    this.send(response, 'index.html');
  }

  @Get('assets/:name')
  asset(@Param('name') name: string, @Res() response: Response): void {
    this.send(response, name);
  }

  private send(response: Response, name: string): void {
    const body = Object.hasOwn(ASSETS, name) ? this.files.get(name) : undefined;
    if (!body) throw new NotFoundException(`no console asset ${name}`);
    response.set({ ...SECURITY_HEADERS, 'content-type': ASSETS[name] }).send(body);
  }
}
