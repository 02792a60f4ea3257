/**
 * The blueprint's CA certificates (`customizations.cacerts`): each certificate of each bundle as
 * a root-owned anchor named by its serial number in hex (as osbuild/images names it), then one
 * `org.osbuild.pki.update-ca-trust`.
 */
import { X509Certificate } from 'node:crypto';
import type { FileNode } from '../../generated/image-definitions.schema.js';
import { stage, type Stage } from './stage.js';

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The anchors of one PEM bundle (the blueprint's check already refused bundles without valid certificates). */
export function caAnchorFiles(bundle: string): FileNode[] {
  return (bundle.match(PEM_BLOCK) ?? []).map((block) => {
    const cert = new X509Certificate(block);
    const serial = BigInt(`0x${cert.serialNumber}`).toString(16);
    const body = cert.raw.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
    return { path: `/etc/pki/ca-trust/source/anchors/${serial}.pem`, user: 'root', group: 'root', data: `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n` };
  });
}

export const updateCaTrustStage = (): Stage => stage('org.osbuild.pki.update-ca-trust');
