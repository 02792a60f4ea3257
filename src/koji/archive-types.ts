/**
 * Koji's archive types (schema.sql `archivetypes`, koji 1.35.3): CGImport picks an archive's
 * type from its file name's extension and refuses names no type lists. Kiln checks its output
 * names against this table before uploading; the dev hub enforces it.
 */

export const ARCHIVE_TYPES: ReadonlyArray<{ name: string; description: string; extensions: string[] }> = [
  ['jar', 'Jar file', 'jar war rar ear sar jdocbook jdocbook-style'],
  ['zip', 'Zip file', 'zip'],
  ['pom', 'Maven Project Object Management file', 'pom'],
  ['tar', 'Tar file', 'tar tar.gz tar.bz2 tar.xz tgz'],
  ['xml', 'XML file', 'xml'],
  ['xmlcompressed', 'Compressed XML file', 'xml.gz xml.bz2 xml.xz'],
  ['xsd', 'XML Schema Definition', 'xsd'],
  ['spec', 'RPM spec file', 'spec'],
  ['exe', 'Windows executable', 'exe'],
  ['dll', 'Windows dynamic link library', 'dll'],
  ['lib', 'Windows import library', 'lib'],
  ['sys', 'Windows device driver', 'sys'],
  ['inf', 'Windows driver information file', 'inf'],
  ['cat', 'Windows catalog file', 'cat'],
  ['msi', 'Windows Installer package', 'msi'],
  ['pdb', 'Windows debug information', 'pdb'],
  ['oem', 'Windows driver oem file', 'oem'],
  ['iso', 'CD/DVD Image', 'iso'],
  ['raw', 'Raw disk image', 'raw'],
  ['qcow', 'QCOW image', 'qcow'],
  ['qcow2', 'QCOW2 image', 'qcow2'],
  ['vmdk', 'vSphere image', 'vmdk'],
  ['ova', 'Open Virtualization Archive', 'ova'],
  ['ks', 'Kickstart', 'ks'],
  ['cfg', 'Configuration file', 'cfg'],
  ['vdi', 'VirtualBox Virtual Disk Image', 'vdi'],
  ['aar', 'Binary distribution of an Android Library project', 'aar'],
  ['apklib', 'Source distribution of an Android Library project', 'apklib'],
  ['cab', 'Windows cabinet file', 'cab'],
  ['dylib', 'OS X dynamic library', 'dylib'],
  ['gem', 'Ruby gem', 'gem'],
  ['ini', 'INI config file', 'ini'],
  ['js', 'Javascript file', 'js'],
  ['ldif', 'LDAP Data Interchange Format file', 'ldif'],
  ['manifest', 'Runtime environment for .NET applications', 'manifest'],
  ['msm', 'Windows merge module', 'msm'],
  ['properties', 'Properties file', 'properties'],
  ['sig', 'Signature file', 'sig signature'],
  ['so', 'Shared library', 'so'],
  ['txt', 'Text file', 'txt'],
  ['vhd', 'Hyper-V image', 'vhd'],
  ['vhdx', 'Hyper-V Virtual Hard Disk v2 image', 'vhdx'],
  ['wsf', 'Windows script file', 'wsf'],
  ['box', 'Vagrant Box Image', 'box'],
  ['raw-xz', 'xz compressed raw disk image', 'raw.xz'],
  ['json', 'JSON data', 'json'],
  ['key', 'Key file', 'key'],
  ['dot', 'DOT graph description', 'dot gv'],
  ['groovy', 'Groovy script file', 'groovy gvy'],
  ['batch', 'Batch file', 'bat'],
  ['shell', 'Shell script', 'sh'],
  ['rc', 'Resource file', 'rc'],
  ['wsdl', 'Web Services Description Language', 'wsdl'],
  ['obr', 'OSGi Bundle Repository', 'obr'],
  ['liveimg-squashfs', 'liveimg compatible squashfs image', 'liveimg.squashfs'],
  ['tlb', 'OLE type library file', 'tlb'],
  ['jnilib', 'Java Native Interface library', 'jnilib'],
  ['yaml', 'YAML Ain\'t Markup Language', 'yaml yml'],
  ['xjb', 'JAXB(Java Architecture for XML Binding) Binding Customization File', 'xjb'],
  ['raw-gz', 'GZIP compressed raw disk image', 'raw.gz'],
  ['qcow2-compressed', 'Compressed QCOW2 image', 'qcow2.gz qcow2.xz'],
  ['iso-compressed', 'Compressed iso image', 'iso.gz iso.xz'],
  ['vhd-compressed', 'Compressed VHD', 'vhd.gz vhd.xz'],
  ['vhdx-compressed', 'Compressed VHDx', 'vhdx.gz vhdx.xz'],
  ['vmdk-compressed', 'Compressed VMDK', 'vmdk.gz vmdk.xz'],
  ['kernel-image', 'Kernel image', 'vmlinuz vmlinuz.gz vmlinuz.xz'],
  ['initramfs', 'Initramfs image', 'img'],
  ['checksum', 'Checksum file', 'sha256'],
  ['changes', 'Kiwi changes file', 'changes changes.xz'],
  ['packages', 'Kiwi packages listing', 'packages'],
  ['verified', 'Kiwi verified package list', 'verified'],
  ['erofs', 'erofs image', 'erofs'],
  ['erofs-compressed', 'Compressed erofs image', 'erofs.gz erofs.xz'],
  ['squashfs', 'SquashFS image', 'squashfs'],
  ['squashfs-compressed', 'Compressed SquashFS image', 'squashfs.gz squashfs.xz'],
  ['wsl', 'Windows Subsystem for Linux image', 'wsl'],
].map(([name, description, ext]) => ({ name, description, extensions: ext.split(' ') }));

export interface ArchiveType {
  /** archivetypes.id in the stock schema order */
  id: number;
  name: string;
  description: string;
  extensions: string;
}

/** get_archive_type: the longest dotted suffix listed by some type wins, case-insensitively. */
export function findArchiveType(filename: string): ArchiveType | undefined {
  const parts = filename.toLowerCase().split('.');
  for (let i = 1; i < parts.length; i++) {
    const ext = parts.slice(i).join('.');
    const idx = ARCHIVE_TYPES.findIndex((t) => t.extensions.includes(ext));
    if (idx >= 0) {
      const t = ARCHIVE_TYPES[idx];
      return { id: idx + 1, name: t.name, description: t.description, extensions: t.extensions.join(' ') };
    }
  }
  return undefined;
}
