"""kept figures: a call's scores token, renewed when what its ranking is computed from changes,
and the log of changes to other kept figures (the dashboards)

Revision ID: 0009_kept_figures
Revises: 0008_two_factor
Create Date: 2026-11-27 14:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import portal.db


# revision identifiers, used by Alembic.
revision = '0009_kept_figures'
down_revision = '0008_two_factor'
branch_labels = None
depends_on = None


def upgrade():
    # Existing calls share the empty token; the call's id is part of every kept ranking's key.
    with op.batch_alter_table('call', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('scores_token', sa.String(length=32), nullable=False, server_default='')
        )
    op.create_table(
        'figures_change',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('token', sa.String(length=32), nullable=False),
        sa.Column('changed_at', portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_figures_change')),
    )
    op.create_index('ix_figures_change_name_id', 'figures_change', ['name', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_figures_change_name_id', table_name='figures_change')
    op.drop_table('figures_change')
    with op.batch_alter_table('call', schema=None) as batch_op:
        batch_op.drop_column('scores_token')
