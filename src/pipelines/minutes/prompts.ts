/**
 * The minutes prompts, versioned files under prompts/minutes/<version>/ (reviewable text, not code).
 * A new wording is a new version folder, so the minutes stored with `promptVersion` stay traceable.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROMPT_VERSION = 'v1';
export type PromptName = 'system' | 'user' | 'part' | 'merge' | 'repair';
export type PromptLanguage = 'fr' | 'en';

/** French unless the meeting is in English: the prompts exist in these two languages. */
export function promptLanguage(meetingLanguage: string): PromptLanguage {
  return meetingLanguage.toLowerCase().startsWith('en') ? 'en' : 'fr';
}

/** The repository (or image) root: the nearest parent folder holding prompts/ (works from src/ and dist/). */
export function assetRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, 'prompts')) && existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('cannot find the prompts/ folder next to package.json');
}

const cache = new Map<string, string>();

export function loadPrompt(name: PromptName, language: PromptLanguage, version = PROMPT_VERSION): string {
  const path = join(assetRoot(), 'prompts', 'minutes', version, `${name}.${language}.md`);
  let text = cache.get(path);
  if (text === undefined) {
    text = readFileSync(path, 'utf8');
    cache.set(path, text);
  }
  return text;
}

/** Fills `{{name}}` placeholders; an unknown placeholder is a bug in the prompt file, not a blank. */
export function fillPrompt(template: string, values: Record<string, string | number>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
    const v = values[key];
    if (v === undefined) throw new Error(`prompt placeholder {{${key}}} has no value`);
    return String(v);
  }).trimEnd();
}
