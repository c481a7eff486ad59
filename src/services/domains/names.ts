/**
 * The libvirt name for a new domain called `name` by its owner: that name itself while no other domain has it
 * in libvirt (the usual case, readable in `virsh list`), else `<name>+<first 8 hex of its UUID>`, which names
 * in the API cannot contain. The caller never learns which: another tenant's name never shows through.
 */
export function libvirtNameFor(name: string, uuid: string, takenInLibvirt: (name: string) => boolean): string {
  return takenInLibvirt(name) ? `${name}+${uuid.replace(/-/g, '').slice(0, 8)}` : name;
}
