// hubbodies.mjs: gridhub's request bodies of the workloads W1-W5b, shared by
// workloads.mjs (scripts/bench-peers.sh) and scripts/bench-cpu.sh. Run as a
// command it writes them, one JSON file per workload, into a directory:
//
//   node hubbodies.mjs <grid code> <resident ID number> <dir>
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

// PAGE is the page size of every page workload.
export const PAGE = 100;

// The fields each workload reads of the three REST departments' sections.
export const hubRESTSections = `employment {
      unemployment { status registeredOn }
      hardship { category recognizedOn }
      certificate { issuedOn }
      assistance { kind date }
      source { department }
    }
    socialSecurity {
      pension { scheme status since }
      medical { scheme status since }
      source { department }
    }
    urbanCases {
      cases { caseNumber kind category stage reportedOn }
      source { department }
    }`;

// pageFields are the person fields W1 and W2 read.
export const pageFields = 'name gender birthDate';

// hubBodies are gridhub's bodies of every workload for a grid and a resident.
export function hubBodies(grid, person) {
  return {
    W1: {
      query: `query W1($grid: ID!) { people(within: $grid, first: ${PAGE}) { nodes { ${pageFields} } } }`,
      variables: { grid },
    },
    W2: {
      query: `query W2($grid: ID!) { people(within: $grid, first: ${PAGE}) { nodes { ${pageFields} household { address } grid { code } } } }`,
      variables: { grid },
    },
    W3: {
      query: 'query W3($id: String!) { person(idNumber: $id) { name gender birthDate ethnicity relation } }',
      variables: { id: person },
    },
    W4: {
      query: `query W4($id: String!) {\n  person(idNumber: $id) {\n    ${hubRESTSections}\n  }\n}`,
      variables: { id: person },
    },
    W5a: {
      query: `query W5a($grid: ID!) {\n  people(within: $grid, first: ${PAGE}) {\n    nodes {\n    name\n    ${hubRESTSections}\n    }\n  }\n}`,
      variables: { grid },
    },
    W5b: {
      query: `query W5b($grid: ID!) {
  people(within: $grid, first: ${PAGE}) {
    nodes {
    name
    civilAffairs {
      dibao { status since }
      tekun { status }
      elderlyAllowance { band }
      disability { issuedOn }
      source { department }
    }
    health {
      floating { inflowDate reason }
      marriage { childbearingAge }
      births { birthDate }
      source { department }
    }
    party {
      membership { category joinedOn }
      source { department }
    }
    ${hubRESTSections}
    }
  }
}`,
      variables: { grid },
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [grid, person, dir] = process.argv.slice(2);
  if (!grid || !person || !dir) {
    console.error('usage: node hubbodies.mjs <grid code> <resident ID number> <dir>');
    process.exit(2);
  }
  mkdirSync(dir, { recursive: true });
  for (const [wl, body] of Object.entries(hubBodies(grid, person))) {
    writeFileSync(join(dir, `${wl}.json`), JSON.stringify(body));
  }
}
