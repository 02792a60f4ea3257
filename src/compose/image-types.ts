/**
 * Image type names in compose requests. The cloud API takes osbuild-composer's names
 * (its ImageTypes enum, what koji-osbuild and Pungi's osbuild phase send); composer maps each to
 * an osbuild/images type (internal/cloudapi/v2 imageTypeFromApiImageType), and so does Kiln.
 * Any other name is taken as osbuild/images names it (canonical or alias), so `generic-qcow2`
 * or `minimal-raw-zst` work too.
 *
 * The one name that means different things: `azure` is composer's name for images' `vhd`;
 * CentOS Stream's own `azure` type is what imageBuilderBuild's `azure` builds.
 */
const COMPOSER_NAMES: Readonly<Record<string, string>> = {
  'guest-image': 'qcow2',
  aws: 'ami',
  'aws-rhui': 'ec2',
  'aws-ha-rhui': 'ec2-ha',
  'aws-sap-rhui': 'ec2-sap',
  gcp: 'gce',
  'gcp-rhui': 'gce-rhui',
  azure: 'vhd',
  'azure-rhui': 'azure-rhui',
  'azure-eap7-rhui': 'azure-eap7-rhui',
  'azure-sap-rhui': 'azure-sap-rhui',
  vsphere: 'vmdk',
  'vsphere-ova': 'ova',
  'image-installer': 'image-installer',
  'edge-commit': 'rhel-edge-commit',
  'edge-container': 'rhel-edge-container',
  'edge-installer': 'rhel-edge-installer',
  'iot-bootable-container': 'iot-bootable-container',
  'iot-commit': 'iot-commit',
  'iot-container': 'iot-container',
  'iot-installer': 'iot-installer',
  'iot-raw-image': 'iot-raw-image',
  'iot-simplified-installer': 'iot-simplified-installer',
  'live-installer': 'live-installer',
  'minimal-raw': 'minimal-raw',
  oci: 'oci',
  wsl: 'wsl',
};

/** The osbuild/images name to resolve for an image type a compose request names. */
export function imagesNameFor(requested: string): string {
  return Object.prototype.hasOwnProperty.call(COMPOSER_NAMES, requested) ? COMPOSER_NAMES[requested] : requested;
}
