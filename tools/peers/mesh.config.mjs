// mesh.config.mjs: the supergraph Hive Gateway serves in scripts/bench-peers.sh,
// composed by `mesh-compose` from the three REST department simulators that
// `gridhub dev` starts (就业 employment, 社保 social_security, 城管
// urban_management), each a JSON-schema source. Every root field is one REST
// lookup in the department's own conventions (connectors/departments/README.md):
// the same calls, keys, batch sizes and page sizes the hub's rest connector
// makes, so that the gateway does the same I/O as the hub.
//
// The simulators listen on free ports: the script passes their URLs (and keys)
// in the environment, and composes again on every run.
import { defineConfig } from '@graphql-mesh/compose-cli';
import { loadJSONSchemaSubgraph } from '@omnigraph/json-schema';

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`mesh.config.mjs: ${name} is not set`);
  return v;
}

const str = { type: 'string' };
const int = { type: 'integer' };
const num = { type: 'number' };
const bool = { type: 'boolean' };

function object(title, properties) {
  return { type: 'object', title, properties };
}

// 就业: {"code":0,"msg":"success","data":{"list":[...],"total":N,"pageNo":1,"pageSize":20}}
function employmentPage(title, item) {
  return object(title, {
    code: int,
    msg: str,
    data: object(`${title}Data`, {
      list: { type: 'array', items: item },
      total: int,
      pageNo: int,
      pageSize: int,
    }),
  });
}

// GET <path>?sfzh=a,b,c&pageNo=1&pageSize=100: the hub's page size for every
// employment set (max_batch 100).
function employmentLookup(field, path, title, item) {
  return {
    type: 'Query',
    field,
    path: `${path}?sfzh={args.sfzh}&pageNo={args.pageNo}&pageSize=100`,
    method: 'GET',
    argTypeMap: { sfzh: str, pageNo: int },
    requiredArgs: ['sfzh', 'pageNo'],
    responseSchema: employmentPage(title, item),
  };
}

const person = { sfzh: str, xm: str, gxsj: str };

const employment = loadJSONSchemaSubgraph('employment', {
  endpoint: need('PEERS_EMPLOYMENT_URL'),
  operationHeaders: { 'X-Api-Key': need('PEERS_EMPLOYMENT_KEY') },
  operations: [
    employmentLookup('unemployment', '/api/v1/unemployment', 'EmpUnemploymentPage',
      object('EmpUnemployment', { ...person, id: str, xb: str, csrq: str, djrq: str, djzt: str, syyy: str })),
    employmentLookup('hardship', '/api/v1/hardship', 'EmpHardshipPage',
      object('EmpHardship', { ...person, id: str, rdlb: str, rdlbmc: str, rdrq: str })),
    employmentLookup('certificates', '/api/v1/certificates', 'EmpCertificatePage',
      object('EmpCertificate', { ...person, id: str, zh: str, fzrq: str, fzjg: str })),
    employmentLookup('assistance', '/api/v1/assistance', 'EmpAssistancePage',
      object('EmpAssistance', { ...person, id: str, yzlx: str, yzlxmc: str, yzrq: str, yznr: str })),
  ],
});

// 社保: POST {"idList":[...]} (at most 200 keys), answers {"items":[...]}.
function siQuery(field, path, title) {
  return {
    type: 'Query',
    field,
    path,
    method: 'POST',
    requestSchema: object(`${title}Query`, { idList: { type: 'array', items: str } }),
    responseSchema: object(`${title}Items`, {
      items: {
        type: 'array',
        items: object(title, {
          aac001: str, aac002: str, aac003: str, aac004: str, aae140: str,
          aac008: str, aae030: str, dyje: num, aae036: str,
        }),
      },
    }),
  };
}

const socialSecurity = loadJSONSchemaSubgraph('social_security', {
  endpoint: need('PEERS_SOCIAL_SECURITY_URL'),
  operationHeaders: { 'X-Auth-Token': need('PEERS_SOCIAL_SECURITY_KEY'), 'Content-Type': 'application/json' },
  operations: [
    siQuery('pension', '/api/si/v1/pension/query', 'SiPension'),
    siQuery('medical', '/api/si/v1/medical/query', 'SiMedical'),
  ],
});

// 城管: GET /openapi/v2/cases?partyIdNo=a,b (at most 50 keys), page/size
// (the hub asks 100 a page), answers {"items":[...],"total":N,"page":1,"size":50}.
const urbanManagement = loadJSONSchemaSubgraph('urban_management', {
  endpoint: need('PEERS_URBAN_MANAGEMENT_URL'),
  operationHeaders: { 'X-App-Key': need('PEERS_URBAN_MANAGEMENT_KEY') },
  operations: [
    {
      type: 'Query',
      field: 'cases',
      path: '/openapi/v2/cases?partyIdNo={args.partyIdNo}&page={args.page}&size=100',
      method: 'GET',
      argTypeMap: { partyIdNo: str, page: int },
      requiredArgs: ['partyIdNo', 'page'],
      responseSchema: object('UmCasePage', {
        items: {
          type: 'array',
          items: object('UmCase', {
            caseId: int, caseNo: str, caseType: str, category: str, status: str,
            source: str, reportDate: str, deadline: str, finishDate: str, isOverdue: bool,
            location: object('UmLocation', { lng: num, lat: num, address: str }),
            gridCode: str, description: str, partyType: str, partyName: str,
            partyIdNo: str, updateTime: str,
          }),
        },
        total: int,
        page: int,
        size: int,
      }),
    },
  ],
});

export const composeConfig = defineConfig({
  subgraphs: [
    { sourceHandler: employment },
    { sourceHandler: socialSecurity },
    { sourceHandler: urbanManagement },
  ],
});
