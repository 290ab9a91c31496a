package deptsim

import "strconv"

// FeedIDs maps the truth's rows (Noise.Row) to the IDs the departments' fact
// feeds give them: the row id for the SQL databases and the ledger's 序号,
// the record's place in its resource for the HTTP services (their changes
// items' id). Keys are "dept/set/row".
func (ds *Dataset) FeedIDs() map[string]string {
	out := map[string]string{}
	place := func(dept, set string, rows []int64) {
		for i, r := range rows {
			out[dept+"/"+set+"/"+strconv.FormatInt(r, 10)] = strconv.Itoa(i)
		}
	}
	e := &ds.Employment
	place(Employment, "unemployment", rowsOf(e.Unemployment, func(x *Unemployment) int64 { return x.Row }))
	place(Employment, "hardship", rowsOf(e.Hardship, func(x *Hardship) int64 { return x.Row }))
	place(Employment, "certificate", rowsOf(e.Certificates, func(x *EmploymentCertificate) int64 { return x.Row }))
	place(Employment, "assistance", rowsOf(e.Assistance, func(x *Assistance) int64 { return x.Row }))
	s := &ds.SocialSecurity
	place(SocialSecurity, "pension", rowsOf(s.Pension, func(x *Pension) int64 { return x.Row }))
	place(SocialSecurity, "medical", rowsOf(s.Medical, func(x *Medical) int64 { return x.Row }))
	cases := rowsOf(ds.UrbanManagement.Cases, func(x *Case) int64 { return x.Row })
	place(UrbanManagement, "cases", cases)
	place(UrbanManagement, "orgCases", cases)
	return out
}

// FeedID is the ID the department's fact feed gives a truth row (see FeedIDs).
func FeedID(ids map[string]string, dept, set string, row int64) string {
	if id, ok := ids[dept+"/"+set+"/"+strconv.FormatInt(row, 10)]; ok {
		return id
	}
	return strconv.FormatInt(row, 10)
}

func rowsOf[T any](xs []T, row func(*T) int64) []int64 {
	out := make([]int64, len(xs))
	for i := range xs {
		out[i] = row(&xs[i])
	}
	return out
}
