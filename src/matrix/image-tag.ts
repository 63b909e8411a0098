/**
 * The tags of --image per commit: `{ref}` in the tag (registry.example/d7y/x:{ref}) is the commit as
 * the user wrote it, so that one command tags each commit of a matrix apart. The one rule for the
 * option's check (config.ts), a build's tag, and a matrix's tags and indexes (spec.ts). Pure.
 */
import { UsageError } from '../errors';
import { hintOption } from '../option-names';

/** The one placeholder: the cell's ref, as a tag. */
export const REF_PLACEHOLDER = '{ref}';

/** The longest tag a registry takes (the distribution spec's [A-Za-z0-9_][A-Za-z0-9._-]{0,127}). */
export const MAX_TAG = 128;

/** What a tag may not hold; each such character of a ref becomes "-". */
const NOT_IN_TAG = /[^A-Za-z0-9_.-]/g;

/**
 * A ref as tag text: v2.1.0 stays, feature/x → feature-x, and a ref that would start the tag with
 * "." or "-" (which registries refuse) gets a leading "_": -rc → _-rc. Never empty: refs are not.
 */
export function refTag(ref: string): string {
  return ref.replace(NOT_IN_TAG, '-').replace(/^[.-]/, '_$&');
}

/** Where a reference's tag starts: after the last ":" that follows the last "/"; -1 without a tag. */
function tagStart(ref: string): number {
  const colon = ref.lastIndexOf(':');
  return colon > ref.lastIndexOf('/') ? colon + 1 : -1;
}

/**
 * Why --image's placeholders can't be filled in, or undefined: an unknown `{...}`, or `{ref}` in
 * the repository (a repository per commit is no tag per commit, and its name must be lower case).
 */
export function placeholderProblem(template: string): string | undefined {
  const start = tagStart(template);
  for (const m of template.matchAll(/\{[^{}]*\}/g)) {
    if (m[0] !== REF_PLACEHOLDER) return `has the unknown placeholder ${m[0]}; the tag takes ${REF_PLACEHOLDER}, the commit`;
    if (start < 0 || m.index < start) return `has ${REF_PLACEHOLDER} outside its tag; only the tag takes it`;
  }
  return undefined;
}

export function hasRefPlaceholder(template: string): boolean {
  return template.includes(REF_PLACEHOLDER);
}

/** The reference --image names for a build of ref: each `{ref}` of its tag filled in; as it is without one. */
export function imageForRef(template: string, ref: string): string {
  return template.replaceAll(REF_PLACEHOLDER, refTag(ref));
}

/** The tag of one platform's image beside the index: v2.1.0 → v2.1.0-linux-arm64. */
export function platformImageRef(repository: string, tag: string, platform: string): string {
  return `${repository}:${tag}-${platform.replace('/', '-')}`;
}

/** A tag longer than a registry takes, refused before anything is built; what: "the tag of v2.1.0". */
export function checkTagLength(template: string, what: string, tag: string): void {
  if (tag.length <= MAX_TAG) return;
  throw new UsageError(`--image ${template}: ${what}, ${tag}, is longer than a registry takes (${MAX_TAG})`, {
    hint: hasRefPlaceholder(template)
      ? `shorten the tag of ${hintOption('image')}, or name the commit by a shorter ref (a tag or a short SHA)`
      : `shorten the tag of ${hintOption('image')}`,
  });
}
