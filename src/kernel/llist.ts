/**
 * Lock-less lists (include/linux/llist.h) whose links live in the objects themselves: a model
 * says where an object's link word is (its free pointer, its ->next) and what the list head
 * is, and these functions follow and write the links, so a list can be corrupted exactly as
 * the kernel's can (a link overwritten while the object is on it, an object added twice: a
 * cycle). An object's link is a name, `nil` (the model's NULL) ending the list.
 *
 *     llist_add(new, head): new->next = head->first; head->first = new;
 *                           "Returns true if the list was empty prior to adding this entry."
 *     llist_del_all(head):  the whole list taken at once; head->first = NULL.
 */

/** Where a list's links are: the word of object `x` read in a state, written in a successor. */
export interface Links {
  readonly read: (x: string) => string;
}
export interface LinksDraft {
  readonly write: (x: string, to: string) => void;
}

/** A list head in a successor: its first object, read and written. */
export interface HeadDraft {
  readonly first: () => string;
  readonly setFirst: (x: string) => void;
}

/** llist_add(x, head): `x`'s link word now points to the old first; whether the list was empty. */
export function llistAdd(head: HeadDraft, links: LinksDraft, x: string, nil: string): boolean {
  const old = head.first();
  links.write(x, old);
  head.setFirst(x);
  return old === nil;
}

/** The objects on the list from `first`, following the links; `cycle` is the object reached twice, if any. */
export function llistEntries(first: string, links: Links, nil: string): { objects: string[]; cycle: string | null } {
  const objects: string[] = [];
  for (let o = first; o !== nil; o = links.read(o)) {
    if (objects.includes(o)) return { objects, cycle: o };
    objects.push(o);
  }
  return { objects, cycle: null };
}

/** llist_del_all(head): empties the list and returns its objects, first first (links left as they are). */
export function llistDelAll(head: HeadDraft, links: Links, nil: string): string[] {
  const { objects } = llistEntries(head.first(), links, nil);
  head.setFirst(nil);
  return objects;
}
