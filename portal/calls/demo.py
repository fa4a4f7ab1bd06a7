"""The demo call: action-plan project 21, the 2026 call for projects for human-rights associations.

Built through the services, so the demo is held to the same rules as a call staff build.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.calls import services
from portal.calls.models import Call
from portal.db import utcnow
from portal.timeutil import from_local, to_local

CODE = "AAP-2026"
# 23:59 on 15 February 2027 in Casablanca falls in Ramadan, when Morocco's clock is UTC+0.
CLOSES_LOCAL = datetime(2027, 2, 15, 23, 59)
RESULTS_LOCAL = datetime(2027, 5, 31, 12, 0)

GENERAL = {
    "code": CODE,
    "title_ar": "طلب عروض المشاريع لسنة 2026 لفائدة جمعيات المجتمع المدني "
    "العاملة في مجال حقوق الإنسان",
    "title_fr": "Appel à projets 2026 au profit des associations de la société civile œuvrant "
    "dans le domaine des droits de l'Homme",
    "description_ar": (
        "في إطار تنفيذ مخطط عملها لسنة 2026، تطلق المندوبية الوزارية المكلفة بحقوق الإنسان طلب "
        "عروض المشاريع لفائدة جمعيات المجتمع المدني العاملة في مجال حقوق الإنسان.\n"
        "يهدف هذا الطلب إلى دعم مشاريع تعزز التفاعل مع آليات الأمم المتحدة لحقوق الإنسان، "
        "وتحمي حقوق الفئات في وضعية هشاشة، وتنشر ثقافة حقوق الإنسان.\n"
        "تودع الترشيحات حصريا عبر هذه البوابة قبل الأجل المحدد."
    ),
    "description_fr": (
        "Dans le cadre de son plan d'action 2026, la Délégation interministérielle aux droits de "
        "l'Homme lance un appel à projets au profit des associations de la société civile "
        "œuvrant dans le domaine des droits de l'Homme.\n"
        "L'appel soutient des projets qui renforcent l'interaction avec les mécanismes onusiens "
        "des droits de l'Homme, protègent les droits des personnes en situation de vulnérabilité "
        "et diffusent la culture des droits de l'Homme.\n"
        "Les candidatures sont déposées uniquement sur ce portail, avant la date limite."
    ),
    "budget_total": 5_000_000,
    "min_amount": 50_000,
    "max_amount": 300_000,
    "min_cofunding_percent": 10,
    "max_duration_months": 12,
    "min_years_since_founding": 2,
    "max_applications_per_association": 1,
    "max_budget_lines": 60,
}

LOTS = (
    {
        "title_ar": "التفاعل مع آليات الأمم المتحدة لحقوق الإنسان وتتبع تنفيذ التوصيات",
        "title_fr": "Interaction avec les mécanismes onusiens des droits de l'Homme et suivi "
        "des recommandations",
        "description_ar": "مشاريع لإعداد التقارير الموازية، والمشاركة في الاستعراض الدوري "
        "الشامل، وتتبع تنفيذ توصيات هيئات المعاهدات والإجراءات الخاصة.",
        "description_fr": "Projets de rapports parallèles, de participation à l'Examen "
        "périodique universel et de suivi des recommandations des organes de traités et des "
        "procédures spéciales.",
        "budget": 2_000_000,
        "axis_codes": ["axis-1", "axis-2"],
        "project_numbers": [21, 22, 25],
    },
    {
        "title_ar": "حقوق النساء والأطفال والأشخاص في وضعية إعاقة",
        "title_fr": "Droits des femmes, des enfants et des personnes en situation de handicap",
        "description_ar": "مشاريع للوقاية من العنف والتمييز، والولوج إلى الحقوق والخدمات، "
        "ومواكبة الفئات في وضعية هشاشة.",
        "description_fr": "Projets de prévention de la violence et des discriminations, d'accès "
        "aux droits et aux services, et d'accompagnement des personnes vulnérables.",
        "budget": 1_800_000,
        "axis_codes": ["axis-1", "axis-3"],
        "project_numbers": [12, 15, 21],
    },
    {
        "title_ar": "التربية على حقوق الإنسان والتحسيس بها",
        "title_fr": "Éducation aux droits de l'Homme et sensibilisation",
        "description_ar": "مشاريع للتكوين والتحسيس موجهة للشباب والمؤسسات التعليمية "
        "ووسائل الإعلام المحلية.",
        "description_fr": "Projets de formation et de sensibilisation destinés aux jeunes, aux "
        "établissements scolaires et aux médias locaux.",
        "budget": 1_200_000,
        "axis_codes": ["axis-3"],
        "project_numbers": [21, 26],
    },
)

CRITERIA = (
    (
        "ملاءمة المشروع",
        "Pertinence du projet",
        "مدى انسجام المشروع مع أهداف الطلب ومحور الحصة وحاجيات الفئات المستهدفة.",
        "Cohérence du projet avec les objectifs de l'appel, l'axe du lot et les besoins des "
        "publics visés.",
        30,
    ),
    (
        "جودة المنهجية",
        "Qualité de la méthodologie",
        "وضوح الأهداف، وتناسق الأنشطة والجدول الزمني، وقابلية المؤشرات للقياس.",
        "Clarté des objectifs, cohérence des activités et du calendrier, indicateurs mesurables.",
        25,
    ),
    (
        "قدرات الجمعية",
        "Capacités de l'association",
        "تجربة الجمعية في المجال، وكفاءة فريق المشروع، وشراكاتها.",
        "Expérience de l'association dans le domaine, compétences de l'équipe, partenariats.",
        15,
    ),
    (
        "الأثر والاستدامة",
        "Impact et durabilité",
        "النتائج المنتظرة على المستفيدين واستمراريتها بعد انتهاء الدعم.",
        "Résultats attendus pour les bénéficiaires et leur maintien après la fin du soutien.",
        20,
    ),
    (
        "الميزانية",
        "Budget",
        "واقعية التكاليف وتناسبها مع الأنشطة، ونسبة التمويل المشترك.",
        "Réalisme des coûts, proportion avec les activités, part de cofinancement.",
        10,
    ),
)

DOCUMENTS = (
    ("statutes", "القانون الأساسي للجمعية", "Statuts de l'association"),
    (
        "general-assembly-minutes",
        "محضر آخر جمع عام",
        "Procès-verbal de la dernière assemblée générale",
    ),
    ("financial-report", "التقرير المالي", "Rapport financier"),
    ("bank-certificate", "شهادة بنكية", "Attestation bancaire"),
    ("activity-report", "تقرير الأنشطة", "Rapport d'activités"),
)

MANUAL_CHECKS = (
    (
        "الجمعية في وضعية سليمة إزاء التزاماتها الجبائية والاجتماعية.",
        "L'association est en situation régulière vis-à-vis de ses obligations fiscales et "
        "sociales.",
    ),
    (
        "أجهزة الجمعية المسيرة منتخبة وولايتها سارية وفق قانونها الأساسي.",
        "Les instances dirigeantes de l'association sont élues et leur mandat est en cours, "
        "conformément à ses statuts.",
    ),
)


def ensure_demo_call(session: Session) -> Call | None:
    """Create and publish the demo call unless a call with its code exists; return it if new."""
    if session.scalar(select(Call.id).where(Call.code == CODE)) is not None:
        return None
    closes_at = from_local(CLOSES_LOCAL)
    # Open from the start of today, Moroccan time (before the deadline even if seeded late).
    today = to_local(utcnow()).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    opens_at = min(from_local(today), closes_at - timedelta(days=60))
    data = {**GENERAL, "opens_at": opens_at, "closes_at": closes_at}
    data["results_expected_at"] = from_local(RESULTS_LOCAL)
    call = services.create_call(session, data, actor=None)
    for lot in LOTS:
        services.save_lot(session, call, lot, actor=None)
    for title_ar, title_fr, guidance_ar, guidance_fr, weight in CRITERIA:
        values = {
            "title_ar": title_ar,
            "title_fr": title_fr,
            "guidance_ar": guidance_ar,
            "guidance_fr": guidance_fr,
            "weight": weight,
            "max_score": 10,
        }
        services.save_criterion(session, call, values, actor=None)
    for code, name_ar, name_fr in DOCUMENTS:
        values = {
            "code": code,
            "name_ar": name_ar,
            "name_fr": name_fr,
            "mandatory": True,
            "allowed_types": ["pdf"],
            "max_size_mb": 10,
        }
        services.save_document(session, call, values, actor=None)
    for text_ar, text_fr in MANUAL_CHECKS:
        services.save_manual_check(
            session, call, {"text_ar": text_ar, "text_fr": text_fr}, actor=None
        )
    if not services.missing_for_publication(call):
        services.publish_call(session, call, actor=None)
    return call
