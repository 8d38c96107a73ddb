"""The tables' CSV writer and reader (smanh.jobs.run): pyarrow's, for speed, but exact, and
reading back what pandas' exact C parser reads."""

import csv
import io
import math

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from smanh.jobs.files import read_csv, write_csv, write_parquet

AWKWARD_TEXT = ["plain", "", None, "a,b", 'say "hi"', "two\nlines", "cr\rhere", " padded ", "NA", "nan"]


def test_numbers_round_trip_exactly(tmp_path):
    rng = np.random.default_rng(7)
    values = np.concatenate([
        rng.random(2000), rng.normal(size=2000) * 10.0 ** rng.integers(-320, 300, 2000),
        [0.0, -0.0, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 1e16, 1e-5, 0.1, 1 / 3],
    ])
    frame = pd.DataFrame({"x": values, "y": -values[::-1]})
    write_csv(frame, tmp_path / "t.csv")
    back = read_csv(tmp_path / "t.csv")
    assert np.array_equal(back["x"].to_numpy(), values)
    assert np.array_equal(np.signbit(back["x"].to_numpy()), np.signbit(values))
    assert np.array_equal(back["y"].to_numpy(), -values[::-1])


def test_text_is_quoted_as_the_csv_module_reads_it(tmp_path):
    frame = pd.DataFrame({"label": AWKWARD_TEXT, "n": range(len(AWKWARD_TEXT))})
    write_csv(frame, tmp_path / "t.csv")
    with open(tmp_path / "t.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["label", "n"]
    assert [r[0] for r in rows[1:]] == ["" if t is None else t for t in AWKWARD_TEXT]
    assert (tmp_path / "t.csv").read_text().splitlines()[1:5] == ["plain,0", ",1", ",2", '"a,b",3']


def test_fields_missing_whole_and_boolean(tmp_path):
    frame = pd.DataFrame({
        "n": [12.0, 3.0, math.nan],  # counts made float by a missing value
        "k": pd.array([1, None, 2], dtype="Int64"),
        "p": [0.5, math.inf, -math.inf],
        "flag": [True, False, True],
        "maybe": [True, None, False],
        "mixed": ["a", 2.5, None],
    })
    write_csv(frame, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text() == (
        "n,k,p,flag,maybe,mixed\n12,1,0.5,True,True,a\n3,,,False,,2.5\n,2,,True,False,\n"
    )


def test_empty_table_is_its_header(tmp_path):
    write_csv(pd.DataFrame({"a": [], "b,c": []}), tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text() == 'a,"b,c"\n'


@pytest.mark.parametrize("engine_text", [
    "a,b,c,d,e,f,g\n"
    'x,,1,True,NA,"p,q",\n'
    ',,,False,,"l\nm",\n'
    'y,,3,,nan,"he said ""hi""",\n',
    "stratum,value\n1,0.1\n2,\nunknown,3\n",
])
def test_reader_equals_pandas_exact_c_parser(tmp_path, engine_text):
    (tmp_path / "t.csv").write_text(engine_text)
    expected = pd.read_csv(io.StringIO(engine_text), keep_default_na=False, na_values=[""],
                           float_precision="round_trip")
    pd.testing.assert_frame_equal(read_csv(tmp_path / "t.csv"), expected, check_exact=True)


def test_parquet_row_groups_by_value_read_back_as_filtered_rows(tmp_path):
    rng = np.random.default_rng(3)
    n = 5000
    frame = pd.DataFrame({
        "scale": rng.choice(["HFMSE", "RULM", "6MWT"], n),
        "patient_id": [f"P{i % 700:04d}" for i in range(n)],
        "date": pd.Timestamp("2010-01-01") + pd.to_timedelta(rng.integers(0, 4000, n), "D"),
        "score": np.where(rng.random(n) < 0.1, np.nan, rng.normal(30, 10, n)),
    })
    write_parquet(frame, tmp_path / "grouped.parquet", row_groups_by="scale")
    frame.to_parquet(tmp_path / "plain.parquet", index=False)
    metadata = pq.ParquetFile(tmp_path / "grouped.parquet").metadata
    assert metadata.num_row_groups == 3  # one per scale, in order of first appearance
    for scale in frame["scale"].unique():
        rows = [("scale", "==", scale)]
        grouped = pd.read_parquet(tmp_path / "grouped.parquet", filters=rows)
        plain = pd.read_parquet(tmp_path / "plain.parquet", filters=rows)
        pd.testing.assert_frame_equal(grouped, plain)  # same rows, order, values and dtypes
    whole = pd.read_parquet(tmp_path / "grouped.parquet")
    order = np.argsort(pd.factorize(frame["scale"])[0], kind="stable")
    pd.testing.assert_frame_equal(whole, frame.iloc[order].reset_index(drop=True))


def test_parquet_row_groups_of_an_empty_table(tmp_path):
    frame = pd.DataFrame({"endpoint": pd.Series([], dtype=object), "event": pd.Series([], dtype=bool)})
    write_parquet(frame, tmp_path / "empty.parquet", row_groups_by="endpoint")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "empty.parquet"), frame)
