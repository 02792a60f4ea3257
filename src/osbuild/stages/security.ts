/**
 * FIPS mode and OpenSCAP remediation, as osbuild/images turns the blueprint's `fips` and
 * `openscap` into stages: an initramfs with the fips module for disks (the kernel arguments are
 * boot.ts's),
 * the FIPS crypto policy and dracut config for every tree; OpenSCAP tailoring (rules or a JSON
 * file in the tree) and remediation as the last stages before SELinux labelling.
 */
import type { BlueprintCustomizations } from '../../blueprint/index.js';
import type { FileNode } from '../../generated/image-definitions.schema.js';
import { stage, type Stage } from './stage.js';

/** The initramfs rebuilt with the fips module, for the installed kernel. */
export function fipsDracutStage(kernelVersion: string | undefined): Stage {
  return stage('org.osbuild.dracut', { kernel: [kernelVersion ?? 'kernel'], add_modules: ['fips'] });
}

export function fipsStages(): Stage[] {
  return [
    stage('org.osbuild.update-crypto-policies', { policy: 'FIPS' }),
    stage('org.osbuild.dracut.conf', { filename: '40-fips.conf', config: { add_dracutmodules: ['fips'] } }),
  ];
}

export const FIPS_FILE: FileNode = { path: '/etc/system-fips', mode: '0644', user: 'root', group: 'root', data: '# FIPS module installation complete\n' };

/** Where remediation writes its results; created in the tree. */
export const OSCAP_DATA_DIR = '/oscap_data';

export interface OpenSCAPPlan {
  datastream: string;
  profileId: string;
  tailoring?: { tailoredProfileId: string; selected?: string[]; unselected?: string[]; jsonFile?: string };
}

export function openscapPlan(o: NonNullable<BlueprintCustomizations['openscap']>, defaultDatastream: string | undefined): OpenSCAPPlan {
  // both are checked before: the profile is allowed, a datastream is known
  const datastream = o.datastream || defaultDatastream!;
  const profileId = o.profile_id!;
  if (o.json_tailoring) {
    return { datastream, profileId, tailoring: { tailoredProfileId: o.json_tailoring.profile_id!, jsonFile: o.json_tailoring.filepath! } };
  }
  if (o.tailoring) {
    return {
      datastream,
      profileId,
      tailoring: {
        tailoredProfileId: `${profileId}_osbuild_tailoring`,
        ...(o.tailoring.selected?.length ? { selected: [...o.tailoring.selected] } : {}),
        ...(o.tailoring.unselected?.length ? { unselected: [...o.tailoring.unselected] } : {}),
      },
    };
  }
  return { datastream, profileId };
}

export function openscapStages(plan: OpenSCAPPlan): Stage[] {
  const out: Stage[] = [];
  const tailoringPath = `${OSCAP_DATA_DIR}/tailoring.xml`;
  const t = plan.tailoring;
  if (t) {
    const config = t.jsonFile
      ? { datastream: plan.datastream, tailored_profile_id: t.tailoredProfileId, tailoring_file: t.jsonFile }
      : { datastream: plan.datastream, profile_id: plan.profileId, new_profile: t.tailoredProfileId, ...(t.selected ? { selected: t.selected } : {}), ...(t.unselected ? { unselected: t.unselected } : {}) };
    out.push(stage('org.osbuild.oscap.autotailor', { filepath: tailoringPath, config }));
  }
  out.push(
    stage('org.osbuild.oscap.remediation', {
      data_dir: OSCAP_DATA_DIR,
      config: { profile_id: t ? t.tailoredProfileId : plan.profileId, datastream: plan.datastream, ...(t ? { tailoring: tailoringPath } : {}), compress_results: true },
    }),
  );
  return out;
}
