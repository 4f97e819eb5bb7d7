// What the client tests expect of the registry in tests/fixtures/clients/registry-src
// (made by scripts/make-client-fixture.sh; change both together).
//
// For each package: who signed it, every version published, the version the catalog calls
// latest (newest stable, not yanked), and what `cargo mero bundle --bump` must propose next
// (the highest published (major, minor, patch), yanked and prereleases included, patch + 1).

export const packages = {
  'com.example.notes': {
    scenario: 'a plain package with a non-ASCII author',
    signer: 'alice',
    author: 'Zoë Martín',
    versions: ['0.9.0', '1.0.0'],
    latest: '1.0.0',
    bump: '1.0.1',
  },
  'com.example.yanked-top': {
    scenario: 'the newest version is yanked',
    signer: 'alice',
    versions: ['1.0.0', '1.0.1'],
    yanked: ['1.0.1'],
    latest: '1.0.0',
    bump: '1.0.2',
  },
  'com.example.prerelease-top': {
    scenario: 'the newest version is a prerelease',
    signer: 'alice',
    versions: ['1.0.0', '2.0.0-rc.1'],
    latest: '1.0.0',
    bump: '2.0.1',
  },
  'com.example.numeric': {
    scenario: '1.10.0 beside 1.2.0 (numeric, not string, order)',
    signer: 'bob',
    versions: ['1.2.0', '1.10.0'],
    latest: '1.10.0',
    bump: '1.10.1',
  },
};

// A package the registry has never published.
export const unknownPackage = 'com.example.never-published';

export const packageNames = Object.keys(packages).sort();

export function packagesSignedBy(signer) {
  return packageNames.filter((name) => packages[name].signer === signer);
}
