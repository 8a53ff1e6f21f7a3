"""Rebuild (or check) the kept 绩效考评 figures from the rows (GOV-4, docs/decisions/0008-evaluation-aggregates.md)."""

import datetime as dt
import re
import time

from django.core.management.base import BaseCommand, CommandError

from jiedao.cases.evaluation.figures import figures_check, figures_rebuild


class Command(BaseCommand):
    help = ("Recompute the kept 绩效考评 figures from the cases (after bulk loads, data fixes that bypass the "
            "services, or new holiday data / office hours); --check compares them with the live computation.")

    def add_arguments(self, parser):
        parser.add_argument("--month", action="append", default=[], help="YYYY-MM (repeatable); default: every month")
        parser.add_argument("--subdistrict", default="", help="code or id; default: every sub-district")
        parser.add_argument("--check", action="store_true", help="compare only; exit with an error on a difference")

    def handle(self, *args, month, subdistrict, check, **options):
        from jiedao.kernel.models import Subdistrict

        months = None
        if month:
            months = []
            for m in month:
                if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", m):
                    raise CommandError(f"--month {m}: expected YYYY-MM")
                months.append(dt.date(int(m[:4]), int(m[5:]), 1))
        sub_id = None
        if subdistrict:
            sub = Subdistrict.objects.filter(code=subdistrict).first() or (
                Subdistrict.objects.filter(pk=int(subdistrict)).first() if subdistrict.isdigit() else None)
            if sub is None:
                raise CommandError(f"no sub-district {subdistrict}")
            sub_id = sub.pk
        t0 = time.perf_counter()
        if check:
            problems = figures_check(subdistrict_id=sub_id, months=months)
            for p in problems[:50]:
                self.stdout.write(p)
            if problems:
                raise CommandError(f"{len(problems)} kept figures differ from the live ones; run evaluation_rebuild")
            self.stdout.write(self.style.SUCCESS(f"kept figures: same as the live figures "
                                                 f"({time.perf_counter() - t0:.1f} s)"))
            return
        n = figures_rebuild(subdistrict_id=sub_id, months=months)
        self.stdout.write(self.style.SUCCESS(f"rebuilt {n} month(s) in {time.perf_counter() - t0:.1f} s"))
