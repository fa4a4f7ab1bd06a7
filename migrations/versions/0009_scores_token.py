"""a call's scores token: renewed when what its ranking is computed from changes

Revision ID: 0009_scores_token
Revises: 0008_two_factor
Create Date: 2026-11-27 14:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009_scores_token'
down_revision = '0008_two_factor'
branch_labels = None
depends_on = None


def upgrade():
    # Existing calls share the empty token; the call's id is part of every kept ranking's key.
    with op.batch_alter_table('call', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('scores_token', sa.String(length=32), nullable=False, server_default='')
        )


def downgrade():
    with op.batch_alter_table('call', schema=None) as batch_op:
        batch_op.drop_column('scores_token')
